"""Browsing an OPC UA address space: the children of a node with what the UI needs to offer them as tags."""

from __future__ import annotations

from dataclasses import dataclass

from asyncua import ua
from asyncua.client.ua_client import UaClient

from tagpipe.contracts.config import DataType
from tagpipe.drivers.opcua_nodes import DATA_TYPE_OF_NODE
from tagpipe.errors import DeviceMisconfigured


@dataclass(frozen=True, slots=True, kw_only=True)
class BrowseEntry:
    """One child node: its address as a tag would use it, names, class, and for variables type, unit and access."""

    node_id: str
    browse_name: str
    display_name: str
    node_class: str
    data_type: DataType | None = None
    unit: str = ""
    writable: bool = False


async def browse_children(client: UaClient, node_id: ua.NodeId) -> tuple[list[BrowseEntry], int]:
    """Browse ``node_id``'s hierarchical children; returns the entries and the number of requests sent."""
    refs, requests = await _references(client, node_id)
    variables = [r for r in refs if r.NodeClass == ua.NodeClass.Variable]
    types: dict[ua.NodeId, tuple[DataType | None, bool]] = {}
    units: dict[ua.NodeId, str] = {}
    if variables:
        ids = [r.NodeId for r in variables]
        values = await client.read(_read_params([(i, a) for i in ids for a in (ua.AttributeIds.DataType,
                                                                               ua.AttributeIds.AccessLevel)]))
        for i, node in enumerate(ids):
            type_dv, access_dv = values[2 * i], values[2 * i + 1]
            type_id = type_dv.Value.Value if type_dv.StatusCode.is_good() and type_dv.Value else None
            access = access_dv.Value.Value if access_dv.StatusCode.is_good() and access_dv.Value else 0
            data_type = DATA_TYPE_OF_NODE.get(type_id.Identifier) if type_id and type_id.NamespaceIndex == 0 else None
            types[node] = (data_type, bool(access & ua.AccessLevel.CurrentWrite.mask))
        units, more = await _units(client, ids)
        requests += 1 + more
    entries = []
    for r in refs:
        data_type, writable = types.get(r.NodeId, (None, False))
        entries.append(BrowseEntry(
            node_id=r.NodeId.to_string(), browse_name=r.BrowseName.to_string(),
            display_name=r.DisplayName.Text or r.BrowseName.Name or "", node_class=r.NodeClass.name,
            data_type=data_type, unit=units.get(r.NodeId, ""), writable=writable))
    return entries, requests


async def _references(client: UaClient, node_id: ua.NodeId) -> tuple[list[ua.ReferenceDescription], int]:
    desc = ua.BrowseDescription()
    desc.NodeId = node_id
    desc.BrowseDirection = ua.BrowseDirection.Forward
    desc.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HierarchicalReferences)
    desc.IncludeSubtypes = True
    desc.NodeClassMask = 0
    desc.ResultMask = ua.BrowseResultMask.All
    params = ua.BrowseParameters()
    params.NodesToBrowse = [desc]
    result = (await client.browse(params))[0]
    requests = 1
    if result.StatusCode.is_bad():
        raise DeviceMisconfigured(f"browse {node_id.to_string()}: {result.StatusCode.name}")
    refs = list(result.References)
    while result.ContinuationPoint:
        more = ua.BrowseNextParameters()
        more.ContinuationPoints = [result.ContinuationPoint]
        result = (await client.browse_next(more))[0]
        requests += 1
        refs.extend(result.References)
    local = [r for r in refs if not getattr(r.NodeId, "ServerIndex", 0) and not getattr(r.NodeId, "NamespaceUri", None)]
    return local, requests


async def _units(client: UaClient, ids: list[ua.NodeId]) -> tuple[dict[ua.NodeId, str], int]:
    """EngineeringUnits properties, found with one TranslateBrowsePaths and read with one Read."""
    paths = []
    for node in ids:
        element = ua.RelativePathElement()
        element.ReferenceTypeId = ua.NodeId(ua.ObjectIds.HasProperty)
        element.IsInverse = False  # asyncua's default is True
        element.TargetName = ua.QualifiedName("EngineeringUnits", 0)
        path = ua.BrowsePath()
        path.StartingNode = node
        path.RelativePath = ua.RelativePath(Elements=[element])
        paths.append(path)
    found = await client.translate_browsepaths_to_nodeids(paths)
    targets = {ids[i]: r.Targets[0].TargetId for i, r in enumerate(found) if r.StatusCode.is_good() and r.Targets}
    if not targets:
        return {}, 1
    values = await client.read(_read_params([(ua.NodeId(t.Identifier, t.NamespaceIndex, t.NodeIdType),
                                              ua.AttributeIds.Value) for t in targets.values()]))
    units = {}
    for node, dv in zip(targets, values, strict=False):
        eu = dv.Value.Value if dv.StatusCode.is_good() and dv.Value else None
        if isinstance(eu, ua.EUInformation):
            units[node] = eu.DisplayName.Text or ""
    return units, 2


def _read_params(items: list[tuple[ua.NodeId, ua.AttributeIds]]) -> ua.ReadParameters:
    params = ua.ReadParameters()
    for node, attr in items:
        rv = ua.ReadValueId()
        rv.NodeId, rv.AttributeId = node, attr
        params.NodesToRead.append(rv)
    return params
