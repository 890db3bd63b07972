"""session_token reads the session cookie exactly as Starlette's Request.cookies does."""

from hypothesis import given
from hypothesis import strategies as st
from starlette.requests import Request

from app.auth.sessions import session_token

NAME = "__Host-crg_session"
# Pieces of Cookie headers, odd ones included: quotes, spaces, empty parts, the name twice.
_piece = st.one_of(
    st.sampled_from([f"{NAME}=abc", f"{NAME}=", f' {NAME} = "q\\"d" ', NAME, "=x",
                     "other=1", "crg_session=plain", ";", " ", f"{NAME}=a=b"]),
    st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=255), max_size=12),
)
_header = st.lists(_piece, max_size=5).map(";".join)


@given(st.lists(st.tuples(st.sampled_from([b"cookie", b"x-other"]), _header), max_size=4))
def test_reads_the_cookie_as_a_request_would(headers: list[tuple[bytes, str]]) -> None:
    scope = {"type": "http", "headers": [(name, value.encode("latin-1"))
                                         for name, value in headers]}
    assert session_token(scope, NAME) == Request(scope).cookies.get(NAME)
