"""A device's daily reminder: the server's push key, set or change it, turn it off."""

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response, status
from sqlalchemy.exc import DBAPIError

from app.auth.errors import RateLimited
from app.auth.rate_limit import AddressBudget, TooManyAttempts, client_address
from app.deps import SessionDep, SettingsDep
from app.errors import AppError, error_responses
from app.reminders import service
from app.reminders.schemas import PushKey, ReminderIn, ReminderPublic, ReminderRemoval
from app.reminders.webpush import VapidKey

router = APIRouter(prefix="/api/reminders", tags=["reminders"])


async def get_vapid_key(request: Request) -> VapidKey:
    key: VapidKey = request.app.state.vapid_key
    return key


def spend_reminder_budget(request: Request) -> None:
    """Saves per client address and hour are bounded: each row is a push we will send.
    A plain `def`: with Redis the count is network I/O, kept off the event loop."""
    budget: AddressBudget = request.app.state.reminder_budget
    try:
        budget.spend(client_address(request))
    except TooManyAttempts as exc:
        raise RateLimited("Too many reminder changes from this address. Try again later.",
                          headers={"Retry-After": str(exc.retry_after_s)},
                          retry_after_s=exc.retry_after_s) from exc


@router.get("/key")
async def push_key(key: Annotated[VapidKey, Depends(get_vapid_key)]) -> PushKey:
    """The key a browser subscribes to this server's pushes with."""
    return PushKey(public_key=key.public_key)


@router.put("", responses=error_responses(422, 429))
def save_reminder(body: ReminderIn, request: Request, db: SessionDep,
                  settings: SettingsDep) -> ReminderPublic:
    """Remind this device (its push subscription) at a local time on chosen weekdays."""
    # Spent once the body is known to be well formed, and given back when the save is
    # refused or fails: only a saved reminder is a push we will send. Committed here, in
    # the try, so that a commit that fails gives the budget back too.
    spend_reminder_budget(request)
    try:
        saved = service.save_reminder(db, body, settings.push_services, datetime.now(UTC))
        db.commit()
        return saved
    except (AppError, DBAPIError):
        budget: AddressBudget = request.app.state.reminder_budget
        budget.refund(client_address(request))
        raise


@router.delete("", status_code=status.HTTP_204_NO_CONTENT, responses=error_responses(404))
def remove_reminder(body: ReminderRemoval, db: SessionDep) -> Response:
    """Turn this device's reminder off."""
    service.remove_reminder(db, body.endpoint)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
