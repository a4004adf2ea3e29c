"""The evaluation's one-statement rule lookup applies exactly the rules of rules_for_hive."""

from __future__ import annotations

import pytest
from django.utils import timezone

from alerts import selectors, services
from alerts.models import AlertRule, Kind
from apiary.models import Membership
from tests.factories import ApiaryFactory, BeekeeperFactory, HiveFactory

pytestmark = pytest.mark.django_db


def context_rules(hive):
    now = timezone.now()
    rows = selectors.evaluation_context(device_id=hive.device_id, first=now, last=now)
    return sorted(row[2] for row in rows)


def test_the_context_and_rules_for_hive_agree(alice, bob):
    apiary = ApiaryFactory(owner=alice)
    hive, other = HiveFactory(apiary=apiary), HiveFactory(apiary=apiary)
    elsewhere = HiveFactory(apiary=ApiaryFactory(owner=alice))
    erin = BeekeeperFactory()
    Membership.objects.create(apiary=apiary, user=erin, email=erin.email, role="viewer")
    services.rule_create(
        actor=alice, kind=Kind.THRESHOLD, hive=hive, params={"metric": "weight", "below": 20}
    )
    services.rule_create(actor=alice, kind=Kind.SWARM, hive=other)
    services.rule_create(actor=alice, kind=Kind.SWARM, apiary=elsewhere.apiary)
    services.rule_create(actor=erin, kind=Kind.SWARM, apiary=apiary)
    gone = services.rule_create(actor=erin, kind=Kind.NO_DATA, hive=hive)
    AlertRule.objects.filter(user=alice, kind=Kind.NO_DATA).update(enabled=False)
    expected_for_hive = sorted(selectors.rules_for_hive(hive=hive).values_list("pk", flat=True))
    # alice's account-wide swarm and brood rules, her rule on the hive, erin's two.
    assert len(expected_for_hive) == 5
    for each in (hive, other, elsewhere):
        assert context_rules(each) == sorted(
            selectors.rules_for_hive(hive=each).values_list("pk", flat=True)
        )
    # erin leaves: her rules stop applying; bob's account-wide rules never did.
    Membership.objects.filter(user=erin).delete()
    assert gone.pk not in context_rules(hive)
    assert context_rules(hive) == sorted(
        selectors.rules_for_hive(hive=hive).values_list("pk", flat=True)
    )
    assert not set(context_rules(hive)) & set(
        AlertRule.objects.filter(user=bob).values_list("pk", flat=True)
    )
