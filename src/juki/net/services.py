"""The 住基ネット services of one node (net-svc), built once per node, and the calls between nodes.

:func:`services` gives a node's :class:`NetServices`: the service objects of :mod:`juki.net.numbers`,
:mod:`juki.net.transfer`, :mod:`juki.net.wide_area`, :mod:`juki.net.cards`, :mod:`juki.net.sending`,
:mod:`juki.net.search`, :mod:`juki.net.consistency` and :mod:`juki.net.provision`, wired to the node's database, key ring, clock,
audit log and peers.  A municipality's register reaches them as ``reg.net`` (set when the node builds
its app), so that the register's API (``juki.api.jukinet``) can ask the network for a clerk.

:func:`call` is one request to a peer over mutual TLS (:meth:`juki.net.node.Node.client`).  A peer's
refusal (4xx with juki's error body) comes back as the same :class:`~juki.domain.errors.JukiError` class
with the peer's problems, so callers treat a remote refusal like a local one (and do not retry it); a
transport failure or a 5xx raises :class:`PeerUnavailable` (retried later by the caller).
"""

from __future__ import annotations

import os
import threading
import weakref
from functools import cached_property
from typing import TYPE_CHECKING, Any

import httpx

from juki.domain.errors import Conflict, Forbidden, InvalidInput, JukiError, NotFound, Problem, RuleViolation

if TYPE_CHECKING:
    from .cards import CardRegistry
    from .consistency import TreeSessions
    from .deliveries import Deliveries
    from .node import Node
    from .numbers import NumberDesignation, NumberingService
    from .provision import ProvisionService
    from .search import IdentitySearch
    from .sending import NoticeReceipts, SendingService
    from .transfer import TransferService
    from .wide_area import WideAreaService


class PeerUnavailable(Exception):
    """The peer could not be reached or failed (transport error, timeout, 5xx): try again later."""


_KINDS: dict[int, type[JukiError]] = {403: Forbidden, 404: NotFound, 409: Conflict}


def refusal(response: httpx.Response) -> JukiError:
    """The JukiError a peer's 4xx answer stands for."""
    try:
        data = response.json()
        problems = [Problem(p["field"], p["rule"], p["message_ja"], p["message_en"]) for p in data["problems"]]
        kind = data.get("error", "")
    except (ValueError, KeyError, TypeError):
        problems = [Problem("", "NET-2/peer", f"通信先が拒否しました（HTTP {response.status_code}）。",
                            f"The peer refused (HTTP {response.status_code}).")]
        kind = ""
    if response.status_code == 422:
        return (RuleViolation if kind == "rule_violation" else InvalidInput)(problems)
    return _KINDS.get(response.status_code, InvalidInput)(problems)


def call(node: Node, peer_code: str, path: str, body: dict[str, Any], *, timeout: float = 15.0) -> dict[str, Any]:
    """POST ``body`` to ``path`` at the peer ``peer_code`` and return its JSON answer."""
    try:
        with node.client(peer_code, timeout=timeout) as client:
            response = client.post(path, json=body)
    except (httpx.HTTPError, OSError) as e:
        raise PeerUnavailable(f"{peer_code}{path}: {type(e).__name__}: {e}") from e
    if response.status_code >= 500:
        raise PeerUnavailable(f"{peer_code}{path}: HTTP {response.status_code}")
    if response.status_code >= 400:
        raise refusal(response)
    answer = response.json()
    assert isinstance(answer, dict)
    return answer


class NetServices:
    """The services of one node (each built on first use)."""

    def __init__(self, node: Node) -> None:
        self.node = node
        self.lock = threading.Lock()

    # -- national -----------------------------------------------------------------------------------

    @cached_property
    def numbering(self) -> NumberingService:
        from .numbers import NumberingKeys, NumberingService

        return NumberingService(self.node.engine, NumberingKeys.load_or_create(self.node.dir / "numbering-keys.json"),
                                clock=self.node.clock, audit=self.node.audit)

    @cached_property
    def cards(self) -> CardRegistry:
        from .cards import CardRegistry

        return CardRegistry(self.node.engine, clock=self.node.clock, audit=self.node.audit)

    @cached_property
    def receipts(self) -> NoticeReceipts:
        from .sending import NoticeReceipts

        return NoticeReceipts(self.node.engine, clock=self.node.clock, audit=self.node.audit)

    # -- municipality -------------------------------------------------------------------------------

    @cached_property
    def designation(self) -> NumberDesignation:
        from .numbers import NumberDesignation

        reg = self.node.register
        return NumberDesignation(reg.store, reg.changes, self.node.code, clock=self.node.clock, audit=reg.audit)

    @cached_property
    def transfer(self) -> TransferService:
        from .transfer import TransferService

        reg = self.node.register
        return TransferService(reg.store, reg.changes, reg.jurisdiction, clock=self.node.clock, audit=reg.audit,
                               protected=reg.reads.protected)

    @cached_property
    def wide_area(self) -> WideAreaService:
        from .wide_area import WideAreaService
        from .wide_area_buffer import WideAreaBuffer, default_buffer_url, max_lag_setting

        reg = self.node.register
        url = os.environ.get("JUKI_WIDE_AREA_BUFFER_URL", "").strip() or default_buffer_url(self.node.dir)
        buffer = WideAreaBuffer(url, reg.keyring, clock=self.node.clock, max_lag=max_lag_setting())
        return WideAreaService(reg.store, reg.reads, reg.jurisdiction, clock=self.node.clock, audit=reg.audit,
                               buffer=buffer)

    @cached_property
    def deliveries(self) -> Deliveries:
        from .deliveries import Deliveries

        return Deliveries(self.node.engine, clock=self.node.clock, store=self.node.store)

    @cached_property
    def sending(self) -> SendingService:
        from juki.domain.sending import Office

        from .sending import SendingService, SendingSpool, default_spool_url

        reg = self.node.register
        url = os.environ.get("JUKI_SENDING_INFO_URL", "").strip() or default_spool_url(self.node.config.database_url)
        keep = os.environ.get("JUKI_SENDING_INFO_KEEP_DAYS", "").strip()
        office = Office(self.node.code, reg.jurisdiction.name)
        return SendingService(reg.store, SendingSpool(url, reg.keyring), office, clock=self.node.clock,
                              keep_days=int(keep) if keep else None, audit=reg.audit)

    # -- every tier ---------------------------------------------------------------------------------

    @cached_property
    def search(self) -> IdentitySearch:
        from .search import IdentitySearch

        return IdentitySearch(self.node)

    @cached_property
    def sessions(self) -> TreeSessions:
        from .consistency import TreeSessions, node_records

        return TreeSessions(lambda lg, file: node_records(self.node, lg, file=file),
                            fetch=lambda lg, codes, file: node_records(self.node, lg, codes, file=file))

    # -- prefecture ---------------------------------------------------------------------------------

    @cached_property
    def provision(self) -> ProvisionService:
        from .provision import NodeFiles, ProvisionService

        terminals = [t.strip() for t in os.environ.get("JUKI_PROVISION_MEDIA_TERMINALS", "").split(",") if t.strip()]
        return ProvisionService(self.node.engine, NodeFiles(self.node), self.node.keyring, clock=self.node.clock,
                                audit=self.node.audit, media_terminals=terminals)

    def close(self) -> None:
        if "sending" in self.__dict__:
            self.sending.spool.close()
        if "wide_area" in self.__dict__ and self.wide_area.buffer is not None:
            self.wide_area.buffer.close()


_SERVICES: weakref.WeakKeyDictionary[Any, NetServices] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def services(node: Node) -> NetServices:
    """The node's services (one set per node object)."""
    with _LOCK:
        s = _SERVICES.get(node)
        if s is None:
            s = _SERVICES[node] = NetServices(node)
        return s
