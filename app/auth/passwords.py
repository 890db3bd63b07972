"""argon2id password hashing with a bound on how many hashes run at once."""

import threading

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

# OWASP's minimum for argon2id: 19 MiB memory, 2 iterations, 1 lane.
_HASHER = PasswordHasher(time_cost=2, memory_cost=19456, parallelism=1)


class PasswordHashing:
    """Hashes and checks passwords; at most `concurrency` hashes run at once.

    Each hash takes 19 MiB and tens of milliseconds of a core: unbounded, a burst of
    sign-ins would exhaust memory and starve every other request.
    """

    def __init__(self, concurrency: int) -> None:
        self._slots = threading.BoundedSemaphore(concurrency)
        self._dummy_hash: str | None = None

    def hash(self, password: str) -> str:
        with self._slots:
            return _HASHER.hash(password)

    def verify(self, password_hash: str, password: str) -> bool:
        with self._slots:
            try:
                return _HASHER.verify(password_hash, password)
            except (VerifyMismatchError, VerificationError, InvalidHashError):
                return False

    def verify_dummy(self, password: str) -> None:
        """Spend the same work as a real check, so an unknown email answers as slowly."""
        if self._dummy_hash is None:
            self._dummy_hash = self.hash("not a real password, only for timing")
        self.verify(self._dummy_hash, password)
