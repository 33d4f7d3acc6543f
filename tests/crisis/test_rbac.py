"""Crisis access control through the REAL token access controller (signed JWTs, RBAC)."""

from __future__ import annotations

import grpc
import pytest
from grpc import aio
from lilo.crisis.v1 import crisis_service_pb2 as pb

from mesh.testing import TestIdentity

from .conftest import Cluster, Node
from .test_service import collect


@pytest.fixture
def ident() -> TestIdentity:
    return TestIdentity()


async def seeded(cluster: Cluster, ident: TestIdentity) -> tuple[Node, dict[str, str]]:
    node = await cluster.start(access=ident.access)
    lead = ident.bearer(
        "care_staff",
        "lead",
        relations=[("res-1", "caregiver", "full"), ("res-2", "caregiver", "full")],
    )
    ids = {}
    for resident in ("res-1", "res-2"):
        response = await node.stub.CreateAlert(
            pb.CreateAlertRequest(resident_id=resident, level=5, source="t"),  # type: ignore[arg-type]
            metadata=lead,
        )
        ids[resident] = response.alert.alert_id
    return node, ids


async def code_of(call: object) -> grpc.StatusCode:
    with pytest.raises(aio.AioRpcError) as err:
        await call  # type: ignore[misc]
    return err.value.code()


async def test_unauthenticated_and_roles_without_alert_read_are_denied(
    cluster: Cluster, ident: TestIdentity
) -> None:
    node, _ = await seeded(cluster, ident)
    assert await code_of(node.stub.ListAlerts(pb.ListAlertsRequest())) == (
        grpc.StatusCode.UNAUTHENTICATED
    )
    resident = ident.bearer("resident", "res-1")
    assert await code_of(node.stub.ListAlerts(pb.ListAlertsRequest(), metadata=resident)) == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    stranger = ident.bearer("family_member", "fam-9")  # no relation to anyone
    assert await code_of(node.stub.ListAlerts(pb.ListAlertsRequest(), metadata=stranger)) == (
        grpc.StatusCode.PERMISSION_DENIED
    )
    watch = node.stub.WatchAlerts(pb.WatchAlertsRequest(replay_all=True), metadata=resident)
    assert await code_of(collect(watch, 1)) == grpc.StatusCode.PERMISSION_DENIED


async def test_care_staff_see_only_assigned_residents(
    cluster: Cluster, ident: TestIdentity
) -> None:
    node, ids = await seeded(cluster, ident)
    staff = ident.bearer("care_staff", "u1", relations=[("res-1", "caregiver", "full")])
    listed = await node.stub.ListAlerts(pb.ListAlertsRequest(), metadata=staff)
    assert [a.resident_id for a in listed.alerts] == ["res-1"]
    other = await node.stub.ListAlerts(pb.ListAlertsRequest(resident_id="res-2"), metadata=staff)
    assert list(other.alerts) == []
    got = await node.stub.GetAlert(pb.GetAlertRequest(alert_id=ids["res-1"]), metadata=staff)
    assert got.alert.resident_id == "res-1"
    # Not visible is indistinguishable from absent.
    for call in (
        node.stub.GetAlert(pb.GetAlertRequest(alert_id=ids["res-2"]), metadata=staff),
        node.stub.AcknowledgeAlert(
            pb.AcknowledgeAlertRequest(alert_id=ids["res-2"]), metadata=staff
        ),
        node.stub.ResolveAlert(
            pb.ResolveAlertRequest(alert_id=ids["res-2"], resolution="x"), metadata=staff
        ),
    ):
        assert await code_of(call) == grpc.StatusCode.NOT_FOUND
    # Creating for an unassigned resident is refused by the contract's resident_field rule.
    assert (
        await code_of(
            node.stub.CreateAlert(
                pb.CreateAlertRequest(resident_id="res-2", level=5),  # type: ignore[arg-type]
                metadata=staff,
            )
        )
        == grpc.StatusCode.PERMISSION_DENIED
    )
    # The feed is scoped the same way.
    watch = node.stub.WatchAlerts(pb.WatchAlertsRequest(replay_all=True), metadata=staff)
    acked = await node.stub.AcknowledgeAlert(
        pb.AcknowledgeAlertRequest(alert_id=ids["res-1"], note="on it"), metadata=staff
    )
    assert acked.alert.acknowledged_by == "u1"
    events = await collect(watch, 2)
    watch.cancel()
    assert [(e.cursor, e.type, e.alert.resident_id) for e in events] == [
        ("1", pb.ALERT_EVENT_TYPE_CREATED, "res-1"),
        ("3", pb.ALERT_EVENT_TYPE_ACKNOWLEDGED, "res-1"),
    ]
    assert events[1].actor == "u1" and events[1].reason == "on it"


async def test_resident_may_raise_but_not_close_their_own_alert(
    cluster: Cluster, ident: TestIdentity
) -> None:
    node = await cluster.start(access=ident.access)
    me = ident.bearer("resident", "res-7")
    raised = await node.stub.CreateAlert(
        pb.CreateAlertRequest(resident_id="res-7", level=4, source="help-button"),  # type: ignore[arg-type]
        metadata=me,
    )
    alert_id = raised.alert.alert_id
    assert (
        await code_of(
            node.stub.CreateAlert(
                pb.CreateAlertRequest(resident_id="res-8", level=4),  # type: ignore[arg-type]
                metadata=me,
            )
        )
        == grpc.StatusCode.PERMISSION_DENIED
    )
    for call in (
        node.stub.AcknowledgeAlert(pb.AcknowledgeAlertRequest(alert_id=alert_id), metadata=me),
        node.stub.ResolveAlert(
            pb.ResolveAlertRequest(alert_id=alert_id, resolution="I'm fine"), metadata=me
        ),
    ):
        assert await code_of(call) == grpc.StatusCode.PERMISSION_DENIED
    # Asking for more help is allowed.
    escalated = await node.stub.EscalateAlert(
        pb.EscalateAlertRequest(alert_id=alert_id, reason="nobody came"), metadata=me
    )
    assert escalated.alert.tier == pb.ESCALATION_TIER_HEALTH_PROVIDER


async def test_family_members_do_not_see_alerts(cluster: Cluster, ident: TestIdentity) -> None:
    """Issue 4: only care staff, providers and admins see alerts, even a relative's."""
    node, _ = await seeded(cluster, ident)
    family = ident.bearer("family_member", "fam-1", relations=[("res-2", "family", "full")])
    assert (
        await code_of(node.stub.ListAlerts(pb.ListAlertsRequest(), metadata=family))
        == grpc.StatusCode.PERMISSION_DENIED
    )
