"""API representations of the apiary domain. Field lists are explicit: owner and ids are
read-only, and related objects are looked up among the requesting user's own only."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from apiary import selectors
from apiary.models import Apiary, Event, Hive, QueenBee


class _OwnedRelatedField(serializers.PrimaryKeyRelatedField):
    """A foreign key whose choices are the requesting user's objects: another user's id
    is answered like an id that does not exist."""

    def __init__(self, selector: Any, **kwargs: Any) -> None:
        self.selector = selector
        super().__init__(**kwargs)

    def get_queryset(self) -> Any:
        return self.selector(user=self.context["request"].user)


class ApiarySerializer(serializers.ModelSerializer):
    owner = serializers.EmailField(source="owner.email", read_only=True)

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
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "owner", "created_at", "updated_at"]


class CurrentQueenSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    year_born = serializers.IntegerField(allow_null=True)
    marking_color = serializers.CharField()
    origin = serializers.CharField()


class HiveSerializer(serializers.ModelSerializer):
    apiary = _OwnedRelatedField(selectors.apiary_list)
    current_queen = serializers.SerializerMethodField()
    last_inspection_at = serializers.DateTimeField(read_only=True, allow_null=True)

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
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["id", "current_queen", "last_inspection_at", "created_at", "updated_at"]
        # Uniqueness is checked by the service, with a message naming the field.
        extra_kwargs = {"device_id": {"validators": []}}

    @extend_schema_field(CurrentQueenSerializer(allow_null=True))
    def get_current_queen(self, hive: Hive) -> dict[str, Any] | None:
        queen_id = getattr(hive, "current_queen_id", None)
        if queen_id is None:
            return None
        return {
            "id": queen_id,
            "year_born": hive.current_queen_year,
            "marking_color": hive.current_queen_color or "",
            "origin": hive.current_queen_origin or "",
        }


class HiveCreatedSerializer(HiveSerializer):
    device_key = serializers.CharField(
        read_only=True,
        help_text="Secret for the hive's sensor gateway (header X-Device-Key). Shown only once.",
    )

    class Meta(HiveSerializer.Meta):
        fields = [*HiveSerializer.Meta.fields, "device_key"]


class DeviceKeySerializer(serializers.Serializer):
    device_id = serializers.CharField(read_only=True)
    device_key = serializers.CharField(read_only=True, help_text="Shown only once.")


class QueenSerializer(serializers.ModelSerializer):
    hive = serializers.PrimaryKeyRelatedField(read_only=True)
    mother = _OwnedRelatedField(selectors.queen_list, allow_null=True, required=False)

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
        read_only_fields = [
            "id",
            "hive",
            "removed_at",
            "removal_reason",
            "is_current",
            "created_at",
        ]


class QueenIntroduceSerializer(serializers.ModelSerializer):
    mother = _OwnedRelatedField(selectors.queen_list, allow_null=True, required=False)
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

    def validate_year_born(self, value: int | None) -> int | None:
        if value is not None and not 1950 <= value <= 2100:
            raise serializers.ValidationError("Give a four-digit year.")
        return value


class QueenRetireSerializer(serializers.Serializer):
    removal_reason = serializers.ChoiceField(QueenBee.RemovalReason.choices)
    removed_at = serializers.DateField(required=False)


class EventSerializer(serializers.ModelSerializer):
    hive = _OwnedRelatedField(selectors.hive_list_owned, allow_null=True, required=False)
    apiary = _OwnedRelatedField(selectors.apiary_list, allow_null=True, required=False)
    details = serializers.JSONField(
        required=False,
        help_text=(
            "Per type: inspection {frames_of_brood, frames_of_honey, temperament "
            "(calm|nervous|aggressive), queen_seen, eggs_seen, queen_cells, varroa_count}; "
            "feeding {feed (syrup_1_1|syrup_2_1|fondant|pollen|honey|other), litres or kg}; "
            "treatment {product, dose, method}; harvest {kg, frames, honey_type}; other types: any object."
        ),
    )

    class Meta:
        model = Event
        fields = ["id", "hive", "apiary", "type", "occurred_at", "notes", "details", "created_at"]
        read_only_fields = ["id", "created_at"]


class NestedEventSerializer(EventSerializer):
    """An event posted under /hives/{id}/events or /apiaries/{id}/events: the URL names the parent."""

    class Meta(EventSerializer.Meta):
        read_only_fields = ["id", "hive", "apiary", "created_at"]
