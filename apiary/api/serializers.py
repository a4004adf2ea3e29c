"""API representations of the apiary domain. Field lists are explicit: owner and ids are
read-only, and related objects are looked up among the requesting user's own only."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apiary import selectors
from apiary.device_keys import device_key_notice
from apiary.models import Apiary, Event, Hive, Membership, QueenBee, Role, validate_device_id
from core.api import VisibleRelatedField
from core.strict import StrictFieldsMixin

if TYPE_CHECKING:
    from apiary.selectors import ListedHive


class ApiarySerializer(StrictFieldsMixin, serializers.ModelSerializer):
    owner = serializers.EmailField(source="owner.email", read_only=True)
    role = serializers.ChoiceField(
        Role.choices,
        read_only=True,
        help_text="Your role here: owner, editor (records hives, queens, events, readings) "
        "or viewer (reads).",
    )

    class Meta:
        model = Apiary
        fields = [
            "id",
            "owner",
            "name",
            "latitude",
            "longitude",
            "address",
            "notes",
            "role",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "owner", "role", "created_at", "updated_at"]


class CurrentQueenSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    year_born = serializers.IntegerField(allow_null=True)
    marking_color = serializers.CharField()
    origin = serializers.CharField()


class HiveSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    apiary: serializers.PrimaryKeyRelatedField[Any] = VisibleRelatedField(selectors.apiary_list)
    current_queen = serializers.SerializerMethodField()
    last_inspection_at = serializers.DateTimeField(read_only=True, allow_null=True)
    device_key_notice = serializers.SerializerMethodField(
        help_text="For the apiary's owner: set when the hive's device key was issued under "
        "a previous owner, who may still know it (replace it: POST /hives/{id}/device-key "
        "or POST /apiaries/{id}/device-keys). Null otherwise, and for other roles."
    )

    class Meta:
        model = Hive
        fields = [
            "id",
            "apiary",
            "name",
            "device_id",
            "hive_type",
            "status",
            "installed_at",
            "notes",
            "current_queen",
            "last_inspection_at",
            "device_key_notice",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "id",
            "current_queen",
            "last_inspection_at",
            "device_key_notice",
            "created_at",
            "updated_at",
        ]
        # The format is the model's; availability is checked by the service (409, naming
        # nobody), hence no unique validator. Optional on create, where the server
        # generates an unguessable one.
        extra_kwargs = {
            "device_id": {
                "validators": [validate_device_id],
                "required": False,
                "help_text": "Sensor device identifier (1-64 of A-Z a-z 0-9 . _ : -). Optional "
                "on create: a random one is generated. Fixed once the hive has readings.",
            }
        }

    @extend_schema_field(CurrentQueenSerializer(allow_null=True))
    def get_current_queen(self, hive: ListedHive) -> dict[str, Any] | None:
        queen_id = getattr(hive, "current_queen_id", None)
        if queen_id is None:
            return None
        return {
            "id": queen_id,
            "year_born": hive.current_queen_year,
            "marking_color": hive.current_queen_color or "",
            "origin": hive.current_queen_origin or "",
        }

    @extend_schema_field(serializers.CharField(allow_null=True))
    def get_device_key_notice(self, hive: Hive) -> str | None:
        # hive_list annotates the requester's role: device keys are the owner's business.
        if getattr(hive, "role", None) != Role.OWNER:
            return None
        return device_key_notice(hive)


class NestedHiveSerializer(HiveSerializer):
    """A hive posted under /apiaries/{id}/hives: the URL names the apiary."""

    apiary: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(
        read_only=True
    )


class HiveCreatedSerializer(HiveSerializer):
    device_key = serializers.CharField(
        read_only=True,
        allow_null=True,
        help_text="Secret for the hive's sensor gateway (header X-Device-Key). Shown only "
        "once, and only to the apiary's owner (null for an editor: the owner replaces the "
        "key to get one).",
    )

    class Meta(HiveSerializer.Meta):
        fields = [*HiveSerializer.Meta.fields, "device_key"]


class PurgeQuerySerializer(serializers.Serializer):
    purge_telemetry = serializers.BooleanField(
        default=False,
        help_text="true: also delete the hive's readings and free its device_id. "
        "By default readings are kept as a historical record.",
    )


class DeviceKeySerializer(serializers.Serializer):
    device_id = serializers.CharField(read_only=True)
    device_key = serializers.CharField(read_only=True, help_text="Shown only once.")


class ReplacedDeviceKeySerializer(serializers.Serializer):
    hive = serializers.IntegerField(read_only=True, help_text="The hive's id.")
    name = serializers.CharField(read_only=True)
    device_id = serializers.CharField(read_only=True)
    device_key = serializers.CharField(read_only=True, help_text="Shown only once.")


class DeviceKeysSerializer(serializers.Serializer):
    keys = ReplacedDeviceKeySerializer(many=True, read_only=True)

    @staticmethod
    def answer(replaced: list[tuple[Hive, str]]) -> dict[str, Any]:
        return {
            "keys": [
                {"hive": h.pk, "name": h.name, "device_id": h.device_id, "device_key": key}
                for h, key in replaced
            ]
        }


class QueenSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    hive: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(
        read_only=True
    )
    mother = VisibleRelatedField(selectors.queen_list, allow_null=True, required=False)
    # Blank while the queen is current: the schema's enum must include "".
    removal_reason = serializers.ChoiceField(
        QueenBee.RemovalReason.choices, allow_blank=True, read_only=True
    )

    class Meta:
        model = QueenBee
        fields = [
            "id",
            "hive",
            "marking_color",
            "year_born",
            "origin",
            "mother",
            "introduced_at",
            "removed_at",
            "removal_reason",
            "is_current",
            "notes",
            "created_at",
        ]
        # introduced_at is history: set when the queen is introduced (POST /hives/{id}/queens).
        read_only_fields = [
            "id",
            "hive",
            "introduced_at",
            "removed_at",
            "removal_reason",
            "is_current",
            "created_at",
        ]


class QueenIntroduceSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    mother = VisibleRelatedField(selectors.queen_list, allow_null=True, required=False)
    introduced_at = serializers.DateField(required=False)
    removal_reason = serializers.ChoiceField(
        QueenBee.RemovalReason.choices,
        default=QueenBee.RemovalReason.REPLACED,
        help_text="Why the current queen (if any) leaves.",
    )

    class Meta:
        model = QueenBee
        fields = [
            "marking_color",
            "year_born",
            "origin",
            "mother",
            "introduced_at",
            "notes",
            "removal_reason",
        ]


class QueenRetireSerializer(StrictFieldsMixin, serializers.Serializer):
    removal_reason = serializers.ChoiceField(QueenBee.RemovalReason.choices)
    removed_at = serializers.DateField(required=False)


class EventSerializer(StrictFieldsMixin, serializers.ModelSerializer):
    hive: serializers.PrimaryKeyRelatedField[Any] = VisibleRelatedField(
        selectors.hive_list_visible, allow_null=True, required=False
    )
    apiary: serializers.PrimaryKeyRelatedField[Any] = VisibleRelatedField(
        selectors.apiary_list, allow_null=True, required=False
    )
    details = serializers.JSONField(
        required=False,
        help_text=(
            "Per type: inspection {queen_seen, eggs_seen, larvae_seen (true|false), "
            "queen_cells, frames_of_brood, frames_of_bees, frames_of_honey (whole numbers), "
            "temperament (calm|nervous|aggressive), varroa_count}; "
            "feeding {feed (syrup_1_1|syrup_2_1|fondant|pollen|honey|other), litres or kg}; "
            "treatment {product, dose, method, withdrawal_end (YYYY-MM-DD, not before the "
            "treatment)}; harvest {kg, frames, honey_type}; split {new_hive, new_queen: ids "
            "of a hive and a queen you see; other keys are kept}; other types: any object. "
            "Typed keys are all optional except feeding's feed and an amount, treatment's "
            "product and harvest's kg."
        ),
    )

    class Meta:
        model = Event
        fields = ["id", "hive", "apiary", "type", "occurred_at", "notes", "details", "created_at"]
        read_only_fields = ["id", "created_at"]


class NestedEventSerializer(EventSerializer):
    """An event posted under /hives/{id}/events or /apiaries/{id}/events: the URL names the parent."""

    hive: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(
        read_only=True
    )
    apiary: serializers.PrimaryKeyRelatedField[Any] = serializers.PrimaryKeyRelatedField(
        read_only=True
    )


class MemberSerializer(serializers.ModelSerializer):
    email = serializers.SerializerMethodField()

    class Meta:
        model = Membership
        fields = ["id", "email", "role", "created_at"]
        read_only_fields = fields

    def get_email(self, membership: Membership) -> str:
        user = membership.user  # None without a query while the invitation is open
        return user.email if user is not None else membership.email


class KeyedHiveSerializer(serializers.ModelSerializer):
    class Meta:
        model = Hive
        fields = ["id", "name", "device_id"]
        read_only_fields = fields


class MemberUpdatedSerializer(MemberSerializer):
    """The answer to a role change or a handover: the membership, and the apiary's hives
    whose device keys were issued under a previous owner (after a handover: all of them,
    until the new owner replaces them)."""

    keys_from_previous_owner = serializers.SerializerMethodField(
        help_text="Hives whose device key was issued under a previous owner, who may still "
        "know it: the owner replaces them (POST /apiaries/{id}/device-keys)."
    )

    class Meta(MemberSerializer.Meta):
        fields = [*MemberSerializer.Meta.fields, "keys_from_previous_owner"]
        read_only_fields = fields

    @extend_schema_field(KeyedHiveSerializer(many=True))
    def get_keys_from_previous_owner(self, membership: Membership) -> list[dict[str, Any]]:
        hives = selectors.hives_keyed_by_previous_owner(apiary=membership.apiary)
        # many=True makes a ListSerializer, whose data is a list (the stubs say ReturnDict).
        return KeyedHiveSerializer(hives, many=True).data  # type: ignore[return-value]


class MemberInviteSerializer(StrictFieldsMixin, serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    role = serializers.ChoiceField([Role.VIEWER.value, Role.EDITOR.value])


class MemberUpdateSerializer(StrictFieldsMixin, serializers.Serializer):
    role = serializers.ChoiceField(
        [Role.VIEWER.value, Role.EDITOR.value, Role.OWNER.value],
        required=False,
        help_text="owner hands the apiary over: you become an editor. Left out: no change.",
    )
