"""The customer's clock: business days, sending windows, preferred slots and contact fatigue.

Business days come from THE calendar of the domain (:func:`duly.domain.calendar.region_calendar`,
a :class:`~duly.domain.calendar.HolidayCalendar`); time zones from :func:`duly.domain.calendar.zone`.
A :class:`_Clock` memoises its answers; clocks belong to the run's
:class:`~duly.domain.dunning.Evaluator`, never to the process.
"""

from __future__ import annotations

from collections import Counter
from datetime import date, datetime, time, timedelta
from typing import Any, Iterable, Sequence

from ..calendar import region_calendar, zone
from ..errors import ValidationError
from .policy import _MAX_CLOSED_RUN, _ONE_DAY, _UTC, FatigueLimits, HolidayCheck, Policy
from .snapshot import AccountSnapshot, _as_utc, _check_aware

#: THE business-day calendar (:class:`duly.domain.calendar.HolidayCalendar`) of a snapshot's
#: ``country`` (``"FR"``, or ``"US-CA"`` for a subdivision): the country's own weekend and public
#: holidays; ``None``: Monday to Friday. An unknown country is refused.
business_calendar = region_calendar


def is_business_day(day: date, country: str | None, is_holiday: HolidayCheck | None = None) -> bool:
    """Outside the country's weekend and not a holiday (``is_holiday`` if given, else the country's
    public holidays), as :func:`business_calendar` says."""
    calendar = business_calendar(country)
    if is_holiday is not None:
        return not calendar.is_weekend(day) and not is_holiday(day)
    return calendar.is_business_day(day)


class _Clock:
    """The customer's local calendar: time zone, business days, sending window and preferred slot.

    A clock is fixed configuration (time zone, holiday country, window, preferred slot), so its
    answers are memoised on it: the UTC instants of a local day's slot and window end, the local
    date and rendering of a moment and, only without an injected ``is_holiday`` (which may not
    be pure), the business days, why ``now`` is no sending time and the first free slot per
    ``now`` and fatigue floor. Clocks without ``is_holiday`` are shared by every customer of the
    same configuration within one run (:meth:`duly.domain.dunning.Evaluator.clock_for`): these
    answers are computed once per run, not once per invoice.
    """

    __slots__ = ("zone", "zone_name", "start", "end", "slot", "slot_source", "country", "is_holiday",
                 "_days", "_business", "_free", "_floored", "_why", "_local", "_today", "_utc_days", "_waiting")

    def __init__(self, snapshot: AccountSnapshot, is_holiday: HolidayCheck | None) -> None:
        self.zone = zone(snapshot.timezone)
        self.zone_name = snapshot.timezone
        self.start, self.end = snapshot.send_window
        self.slot, self.slot_source = _preferred_slot(snapshot)
        self.country = snapshot.country
        self.is_holiday = is_holiday
        #: local date -> (slot, end of the window), both UTC.
        self._days: dict[date, tuple[datetime, datetime]] = {}
        #: local date -> business day? (only when ``is_holiday`` is None).
        self._business: dict[date, bool] = {}
        #: Keys of the per-moment memos: (moment, its tzinfo, its fold), see :func:`_moment_key`.
        self._free: dict[tuple[datetime, Any, int], datetime] = {}
        self._floored: dict[tuple[Any, ...], datetime] = {}
        self._why: dict[tuple[datetime, Any, int], str | None] = {}
        self._local: dict[tuple[datetime, Any, int], str] = {}
        self._today: dict[tuple[datetime, Any, int], date] = {}
        #: UTC moment -> local date (UTC has no fold: the moment alone is the key).
        self._utc_days: dict[datetime, date] = {}
        #: :meth:`waiting`, made on first use (it depends on the clock's configuration only).
        self._waiting: str | None = None

    def business_day(self, day: date) -> bool:
        if self.is_holiday is not None:
            return is_business_day(day, self.country, self.is_holiday)
        answer = self._business.get(day)
        if answer is None:
            answer = is_business_day(day, self.country, None)
            _remember(self._business, day, answer)
        return answer

    def _window(self, day: date) -> tuple[datetime, datetime]:
        """(preferred slot, end of the window) of the local ``day``, in UTC."""
        window = self._days.get(day)
        if window is None:
            tz = self.zone
            window = (
                datetime.combine(day, self.slot, tz).astimezone(_UTC),
                datetime.combine(day, self.end, tz).astimezone(_UTC),
            )
            _remember(self._days, day, window)
        return window

    def next_slot(self, now: datetime, not_before: datetime | None) -> datetime:
        """The first preferred slot (UTC) on a business day, not before ``not_before``.

        Today's slot counts while today's window is still open, even when the slot hour has passed:
        the message then goes out at once.
        """
        floor = not_before if not_before is not None and not_before > now else None
        if self.is_holiday is not None:
            return self._next_slot(now, floor)
        if floor is None:
            key: tuple[Any, ...] = (now, now.tzinfo, now.fold)
            memo = self._free
        else:
            # The slot may be ``floor`` itself: equal floors of the same tzinfo and fold are the
            # same wall time, so the memoised one is indistinguishable from this one.
            key = (now, now.tzinfo, now.fold, floor, floor.tzinfo, floor.fold)
            memo = self._floored
        slot = memo.get(key)
        if slot is None:
            slot = self._next_slot(now, floor)
            _remember(memo, key, slot)
        return slot

    def _next_slot(self, now: datetime, floor: datetime | None) -> datetime:
        first = day = (floor or now).astimezone(self.zone).date()
        for _ in range(_MAX_CLOSED_RUN):
            if self.business_day(day):
                slot, end = self._window(day)
                if floor is not None and floor > slot:
                    slot = floor
                if slot < end and now < end:
                    return slot
            day += _ONE_DAY
        raise ValidationError(
            f"No business day in the {_MAX_CLOSED_RUN} days from {first.isoformat()}: check the holiday calendar."
        )

    def today(self, now: datetime) -> date:
        """The local date at ``now``."""
        key = (now, now.tzinfo, now.fold)
        day = self._today.get(key)
        if day is None:
            day = now.astimezone(self.zone).date()
            _remember(self._today, key, day)
        return day

    def day_of(self, moment: datetime) -> date:
        """The local date at ``moment``: :meth:`today`, faster for the UTC moments snapshots hold."""
        if moment.tzinfo is not _UTC:
            return self.today(moment)
        day = self._utc_days.get(moment)
        if day is None:
            day = moment.astimezone(self.zone).date()
            _remember(self._utc_days, moment, day)
        return day

    def waiting(self) -> str:
        text = self._waiting
        if text is None:
            text = self._waiting = f"waiting for the {self.slot_source} {self.slot:%H:%M} {self.zone_name}"
        return text

    def local(self, moment: datetime) -> str:
        key = (moment, moment.tzinfo, moment.fold)
        text = self._local.get(key)
        if text is None:
            text = f"{moment.astimezone(self.zone):%a %Y-%m-%d %H:%M} {self.zone_name}"
            _remember(self._local, key, text)
        return text

    def why_not_now(self, now: datetime) -> str | None:
        """Why ``now`` itself is not a sending time, or ``None`` when it is."""
        if self.is_holiday is not None:
            return self._why_not_now(now)
        key = (now, now.tzinfo, now.fold)
        try:
            return self._why[key]
        except KeyError:
            answer = self._why_not_now(now)
            _remember(self._why, key, answer)
            return answer

    def _why_not_now(self, now: datetime) -> str | None:
        local = now.astimezone(self.zone)
        today = local.date()
        if not self.business_day(today):
            if business_calendar(self.country).is_weekend(today):
                return f"{today:%A %Y-%m-%d} is a weekend day"
            where = f" in {self.country}" if self.is_holiday is None and self.country else ""
            return f"{today:%A %Y-%m-%d} is a public holiday{where}"
        if not self.start <= local.time() < self.end:
            return f"outside the sending window {self.start:%H:%M}-{self.end:%H:%M} {self.zone_name}"
        return None


#: Entries kept per memo (of a clock, of an evaluator); a full memo is emptied.
_MEMO_SIZE = 4096


def _remember(memo: dict, key: Any, value: Any) -> None:
    if len(memo) >= _MEMO_SIZE:
        memo.clear()
    memo[key] = value


def _preferred_slot(snapshot: AccountSnapshot) -> tuple[time, str]:
    start, end = snapshot.send_window
    choices = ((snapshot.best_hour, "learned best hour"), (snapshot.segment_default_hour, "segment default hour"))
    for hour, source in choices:
        if hour is None:
            continue
        slot = time(hour)
        if slot < start:
            return start, source
        if slot >= end:
            last_whole_hour = time((end.hour * 60 + end.minute - 1) // 60)
            return max(start, last_whole_hour), source
        return slot, source
    return start, "start of the sending window"


# --- contact fatigue ----------------------------------------------------------------------------------


def _fatigue_floor(sent: Sequence[datetime], policy: Policy) -> tuple[datetime | None, str | None]:
    """Earliest next reminder allowed by the policy's fatigue limits, given the sorted send times:
    :func:`_floor_for` with the policy's limits precomputed."""
    if not sent:
        return None, None
    compiled = policy._compiled
    limits = policy.fatigue
    floor: datetime | None = None
    why: str | None = None
    if compiled.min_gap is not None:
        floor = sent[-1] + compiled.min_gap
        why = compiled.gap_why
    most = limits.max_per_window
    if most is not None and len(sent) >= most:
        window_end = sent[-most] + compiled.window
        if floor is None or window_end > floor:
            floor = window_end
            why = compiled.window_why
    return floor, why


def fatigue_allows(sent: Iterable[datetime], limits: FatigueLimits, now: datetime) -> bool:
    """Whether one more message at ``now`` keeps within the contact-fatigue ``limits``, given the
    times of the messages already sent (later ones are ignored): the rule greetings follow too."""
    moment = _as_utc(now, "now")
    past = sorted(s for s in sent if s <= moment)
    gap = timedelta(hours=limits.min_gap_hours) if limits.min_gap_hours is not None else None
    floor, _ = _floor_for(past, limits, gap, timedelta(days=limits.window_days))
    return floor is None or moment >= floor


def _floor_for(sent: Sequence[datetime], limits: FatigueLimits, min_gap: timedelta | None,
               window: timedelta) -> tuple[datetime | None, str | None]:
    if not sent:
        return None, None
    floor: datetime | None = None
    why: str | None = None
    if min_gap is not None:
        floor = sent[-1] + min_gap
        why = f"contact fatigue: at least {limits.min_gap_hours} h between two reminders"
    if limits.max_per_window is not None and len(sent) >= limits.max_per_window:
        window_end = sent[-limits.max_per_window] + window
        if floor is None or window_end > floor:
            floor = window_end
            why = (
                f"contact fatigue: at most {limits.max_per_window} reminders in any {limits.window_days} days"
            )
    return floor, why


# --- when any message may go out -----------------------------------------------------------------------


def next_send_time(
    moment: datetime,
    timezone: str,
    window: tuple[time, time] = (time(9), time(17)),
    country: str | None = None,
    *,
    is_holiday: HolidayCheck | None = None,
) -> datetime:
    """``moment`` (UTC) when it is inside the sending ``window`` of a business day in the IANA
    ``timezone``, else the opening of the next such window: the rule every message follows
    (reminders, thank-yous, greetings, notices, answers), also when a retry comes late."""
    now = _as_utc(moment, "moment")
    tz = zone(timezone)
    start, end = window
    if not (isinstance(start, time) and isinstance(end, time)) or not start < end:
        raise ValidationError(f"The sending window must be two local times, start before end, got {window!r}.")
    day = now.astimezone(tz).date()
    for _ in range(_MAX_CLOSED_RUN):
        if is_business_day(day, country, is_holiday):
            closes = datetime.combine(day, end, tz).astimezone(_UTC)
            if now < closes:
                return max(now, datetime.combine(day, start, tz).astimezone(_UTC))
        day += _ONE_DAY
    raise ValidationError(f"No business day in the {_MAX_CLOSED_RUN} days from {now.date().isoformat()}.")


def yearly_occurrence(year: int, month: int, day: int) -> date:
    """The date of a yearly occasion in ``year`` (29 February is the 28th in other years)."""
    try:
        return date(year, month, day)
    except ValueError:
        return date(year, month, 28)


def greeting_day(month: int, day: int, today: date, grace_days: int = 3) -> date | None:
    """The occurrence of a yearly occasion (birthday, anniversary, special date) that ``today``
    (the customer's local date) may still greet: on the day or within ``grace_days`` after it
    (when the day itself was a weekend, a holiday or outside the window). ``None`` otherwise."""
    for year in (today.year, today.year - 1):
        on = yearly_occurrence(year, month, day)
        if on <= today <= on + timedelta(days=grace_days):
            return on
    return None


def sla_missed(sla_due_on: date, answered_on: date | None, today: date) -> bool:
    """A query's answer is late when given after the SLA day, or still missing after it. Both
    dates are local dates of the organization (the SLA day is one)."""
    if answered_on is not None:
        return answered_on > sla_due_on
    return today > sla_due_on


# --- learning the best hour ---------------------------------------------------------------------------


def learn_best_hour(events: Sequence[datetime], timezone: str) -> int | None:
    """The most frequent local hour of ``events`` (payments or opens after reminders); ties go to
    the earliest hour. ``None`` with fewer than 3 events."""
    tz = zone(timezone)
    for event in events:
        _check_aware(event, "event")
    if len(events) < 3:
        return None
    counts = Counter(event.astimezone(tz).hour for event in events)
    return min(counts, key=lambda hour: (-counts[hour], hour))
