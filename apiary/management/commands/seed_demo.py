"""A demo beekeeper with two apiaries, hives, queen histories and a season of events."""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from accounts.models import User
from accounts.services import beekeepers_group, user_register
from apiary import services
from apiary.models import Apiary, Hive

DEMO_EMAIL = "demo@beeapi.local"
DEMO_PASSWORD = "demo-bees-2026"
APIARIES = [
    (
        "Orchard apiary",
        "Old orchard behind the farmhouse",
        Decimal("47.3769"),
        Decimal("8.5417"),
        4,
    ),
    ("Heath apiary", "Heather moorland, summer site", Decimal("47.4101"), Decimal("8.6500"), 2),
]
ORIGINS = [
    "Carniolan (A. m. carnica), own breeding",
    "Buckfast, Imkerei Sonnenhang",
    "Local survivor stock",
]


class Command(BaseCommand):
    help = "Create (once) a demo beekeeper with apiaries, hives, queen histories and a season of events."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--email", default=DEMO_EMAIL)
        parser.add_argument("--password", default=DEMO_PASSWORD)

    @transaction.atomic
    def handle(self, *args: Any, email: str, password: str, **options: Any) -> None:
        rng = random.Random(2026)
        user = User.objects.filter(email=email).first()
        if user is None:
            user = user_register(email=email, password=password, name="Demo Beekeeper")
            self.stdout.write(f"created beekeeper {email}")
        else:
            user.groups.add(beekeepers_group())
            self.stdout.write(f"beekeeper {email} exists: keeping their data")
        if Apiary.objects.filter(owner=user).exists():
            self._summary(user, password)
            return

        today = timezone.localdate()
        season_start = dt.date(today.year if today.month >= 4 else today.year - 1, 4, 1)
        number = 0
        for name, address, lat, lon, hive_count in APIARIES:
            apiary = services.apiary_create(
                owner=user, name=name, address=address, latitude=lat, longitude=lon
            )
            services.event_create(
                actor=user,
                apiary=apiary,
                type="note",
                occurred_at=_at(season_start, 9),
                notes="Spring check of the stands and the fence.",
            )
            for _ in range(hive_count):
                number += 1
                hive, _key = services.hive_create(
                    actor=user,
                    apiary=apiary,
                    name=f"Hive {number}",
                    device_id=f"demo-hive-{number:03d}",
                    installed_at=season_start - dt.timedelta(days=400),
                    hive_type=rng.choice(["langstroth", "dadant", "zander"]),
                )
                self._queens(user, hive, season_start, rng)
                self._season(
                    user, hive, season_start, min(today, season_start + dt.timedelta(days=180)), rng
                )
                self.stdout.write(
                    f"  {apiary.name}: {hive.name} (id {hive.pk}, device {hive.device_id})"
                )
        self._summary(user, password)

    def _queens(self, user: User, hive: Hive, season_start: dt.date, rng: random.Random) -> None:
        mother = services.queen_introduce(
            actor=user,
            hive=hive,
            introduced_at=season_start - dt.timedelta(days=380),
            year_born=season_start.year - 1,
            origin=rng.choice(ORIGINS),
        )
        if rng.random() < 0.6:
            services.queen_introduce(
                actor=user,
                hive=hive,
                introduced_at=season_start + dt.timedelta(days=rng.randint(50, 80)),
                year_born=season_start.year,
                origin="Daughter of the previous queen",
                mother=mother,
                removal_reason=rng.choice(["superseded", "swarmed", "replaced"]),
            )

    def _season(
        self, user: User, hive: Hive, start: dt.date, end: dt.date, rng: random.Random
    ) -> None:
        day = start
        while day <= end:
            services.event_create(
                actor=user,
                hive=hive,
                type="inspection",
                occurred_at=_at(day, 10),
                details={
                    "frames_of_brood": min(12, 3 + (day - start).days // 15),
                    "temperament": rng.choice(["calm", "calm", "nervous"]),
                    "queen_seen": rng.random() < 0.6,
                    "eggs_seen": True,
                },
            )
            day += dt.timedelta(days=rng.randint(9, 14))
        plan: list[tuple[int, str, dict[str, Any]]] = [
            (5, "feeding", {"feed": "syrup_1_1", "litres": 3}),
            (60, "harvest", {"kg": round(rng.uniform(8, 20), 1), "frames": 8}),
            (120, "harvest", {"kg": round(rng.uniform(5, 15), 1), "frames": 6}),
            (125, "treatment", {"product": "Formic acid 60%", "dose": "2 ml per comb"}),
            (140, "feeding", {"feed": "syrup_2_1", "litres": 10}),
        ]
        for offset, kind, details in plan:
            when = start + dt.timedelta(days=offset)
            if when <= end:
                services.event_create(
                    actor=user, hive=hive, type=kind, occurred_at=_at(when, 16), details=details
                )

    def _summary(self, user: User, password: str) -> None:
        devices = list(
            Hive.objects.filter(apiary__owner=user)
            .order_by("id")
            .values_list("device_id", flat=True)
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"Demo ready: {user.email} / {password} — {len(devices)} hives. Sign in at "
                "/admin/ or POST /auth/token."
            )
        )
        # simulate_hives feeds the demo beekeeper's hives when none are named.
        owner = "" if user.email == DEMO_EMAIL else f" --user {user.email}"
        self.stdout.write(
            f"Feed them readings: `manage.py simulate_hives{owner} --backfill-days 7`"
        )
        if len(devices) >= 3:
            swarm, cold, silent = devices[:3] if len(devices) < 5 else devices[2:5]
            self.stdout.write(
                f"Three alerts within two minutes: `manage.py simulate_hives --live --fast{owner}"
                f" --swarm {swarm} --cold-brood {cold} --silent {silent}` (on hives without"
                " readings in the last hour)"
            )


def _at(day: dt.date, hour: int) -> dt.datetime:
    return timezone.make_aware(dt.datetime.combine(day, dt.time(hour)))
