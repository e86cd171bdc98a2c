"""Estimated cost of a session's usage, from a TOML price table.

The default table ships as ``lkmon/prices.toml``; a user file given to ``PriceTable.load`` overrides
entries of it. Prices are per 1,000,000 tokens or characters and per minute of audio, in the
table's currency (USD by default). Providers in ``local_providers`` cost 0; a provider/model
missing from the table has an unknown cost (``None``), never 0.

Which provider's prices apply. LiveKit usage rows carry only ``provider`` and ``model``, and the
OpenAI plugins (and every plugin built on them) report as ``provider`` the host of their base URL
(``api.openai.com``, or ``127.0.0.1:8000`` behind a proxy or a local server). So a row is resolved
(``PriceTable.resolve``), in this order:

1. ``provider`` in ``local_providers``: local, cost 0.
2. ``provider`` is a host with a ``[hosts."HOST"]`` entry (exact ``host:port``, then the host
   without its port): ``local = true`` costs 0; else the entry's own ``prices`` for the model, else
   the rates of its ``provider``; else go on.
3. The plugin package that reported ``(provider, model)`` in a plugin metric
   (``providers.PackageMap``, fed by ``SessionModel`` from each metric's ``label``:
   ``livekit.plugins.openai.llm.LLM`` -> ``openai``, ``livekit.agents.inference.*`` -> ``livekit``,
   ``lkmon.local.*`` -> ``local``): that provider's rates wherever its base URL points (a proxy
   bills the same), unless the host is a well-known API host of another vendor
   (``openai.LLM.with_groq()`` -> ``api.groq.com`` -> groq).
4. ``provider`` itself is a provider of the table (case-insensitive: ``Deepgram`` -> deepgram).
5. ``provider`` is a well-known API host (``lkmon.model.providers.KNOWN_HOSTS``: ``api.openai.com``
   -> openai, ...).
6. Otherwise unknown: cost ``None``.

The row shows ``via HOST`` when its host is not one of the resolved provider's own hosts (a
proxy, Azure, a local server).

No textual or livekit import here.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from lkmon.model.events import ModelUsage
from lkmon.model.providers import PackageMap, is_own_host, known_host, split_host

PRICE_KEYS = (
    "input_per_1m",
    "cached_input_per_1m",
    "output_per_1m",
    "characters_per_1m",
    "audio_per_minute",
)
HOST_KEYS = ("local", "provider", "prices")


class PriceTableError(ValueError):
    """A price table file that is missing, unreadable or malformed; the message is one line."""


@dataclass(slots=True, frozen=True)
class ModelPrice:
    """Prices of one provider/model. ``None`` means the model is not billed that way."""

    input_per_1m: float | None = None
    cached_input_per_1m: float | None = None
    output_per_1m: float | None = None
    characters_per_1m: float | None = None
    audio_per_minute: float | None = None

    def cost(self, usage: ModelUsage) -> float:
        """Cost of ``usage`` in the table's currency.

        Cached prompt tokens (``input_cached_tokens``, a subset of ``input_tokens``) are billed at
        ``cached_input_per_1m`` (default: the input price).
        """
        total = 0.0
        if self.input_per_1m is not None:
            cached_price = self.cached_input_per_1m
            if cached_price is None:
                cached_price = self.input_per_1m
            uncached = max(usage.input_tokens - usage.input_cached_tokens, 0)
            total += uncached * self.input_per_1m / 1e6
            total += usage.input_cached_tokens * cached_price / 1e6
        if self.output_per_1m is not None:
            total += usage.output_tokens * self.output_per_1m / 1e6
        if self.characters_per_1m is not None:
            total += usage.characters_count * self.characters_per_1m / 1e6
        if self.audio_per_minute is not None:
            total += usage.audio_duration / 60.0 * self.audio_per_minute
        return total


@dataclass(slots=True, frozen=True)
class HostRule:
    """A ``[hosts."HOST"]`` entry: how usage sent to that base-URL host is billed.

    Attributes:
        local: the host runs on this machine (or is free): cost 0.
        provider: bill at this provider's rates (``None``: the provider resolved for the row).
        prices: per-model prices at this host (``"*"`` matches every model), before ``provider``'s.
    """

    local: bool = False
    provider: str | None = None
    prices: dict[str, ModelPrice] = field(default_factory=dict)


def shown_provider(reported: str, billed: str | None, local: bool, via: str) -> str:
    """The provider a usage row is shown under, in every view: the billed one (``openai`` for
    ``api.openai.com``), or the ``reported`` one when unresolved or local (with no ``via``)."""
    if billed is None or (local and not via):
        return reported
    return billed


@dataclass(slots=True)
class UsageCost:
    """One usage entry with its estimated cost (``None`` when the price is unknown).

    Attributes:
        usage: the row.
        cost: estimated cost in the table's currency; 0.0 when local; ``None`` when unknown.
        local: runs on this machine (a local provider, a ``local`` host or ``lkmon.local``).
        billed_provider: whose prices apply (``openai`` for ``api.openai.com``), or ``None`` when
            no provider could be resolved.
        via: the base-URL host when it is not the billed provider's own (proxy, Azure, local
            server), else ``""``.
        package: the plugin package that reported the row (``openai``), if a metric was seen.
    """

    usage: ModelUsage
    cost: float | None
    local: bool = False
    billed_provider: str | None = None
    via: str = ""
    package: str | None = None

    @property
    def shown_provider(self) -> str:
        """The provider as shown (``shown_provider``)."""
        return shown_provider(self.usage.provider, self.billed_provider, self.local, self.via)

    @property
    def shown_via(self) -> str:
        """``via`` unless the shown provider already is that host."""
        return self.via if self.via != self.shown_provider else ""

    @property
    def name(self) -> str:
        """``provider/model`` as shown, plus `` via HOST`` when the row went through a host that
        is not the provider's own (``openai/gpt-4.1 via 127.0.0.1:8000``)."""
        via = self.shown_via
        return f"{self.shown_provider}/{self.usage.model}" + (f" via {via}" if via else "")


@dataclass(slots=True)
class PriceTable:
    """Prices per provider and model, and per base-URL host.

    Attributes:
        prices: ``{provider: {model or "*": ModelPrice}}``.
        local_providers: providers that run on this machine and cost 0.
        currency: ISO code of the prices, e.g. ``"USD"``.
        source: where the table came from (for display).
        hosts: ``{host or host:port: HostRule}`` overrides (see the module docstring).
    """

    prices: dict[str, dict[str, ModelPrice]] = field(default_factory=dict)
    local_providers: frozenset[str] = frozenset()
    currency: str = "USD"
    source: str = ""
    hosts: dict[str, HostRule] = field(default_factory=dict)

    @classmethod
    def default(cls) -> PriceTable:
        """The table shipped with lkmon (``lkmon/prices.toml``)."""
        text = resources.files("lkmon").joinpath("prices.toml").read_text(encoding="utf-8")
        return cls.from_toml(text, source="lkmon/prices.toml")

    @classmethod
    def load(cls, path: str | Path, *, include_default: bool = True) -> PriceTable:
        """Read a user price table; its entries replace the default table's.

        Args:
            path: a TOML file in the format of ``lkmon/prices.toml``.
            include_default: start from the shipped table (True) or from nothing.

        Raises:
            PriceTableError: the file is missing, unreadable, not TOML, or has bad entries.
        """
        p = Path(path)
        try:
            text = p.read_text(encoding="utf-8")
        except OSError as e:
            raise PriceTableError(f"cannot read price table {p}: {e.strerror or e}") from None
        except UnicodeDecodeError:
            raise PriceTableError(f"corrupt price table {p}: not UTF-8 text") from None
        table = cls.from_toml(text, source=str(p))
        if not include_default:
            return table
        return cls.default().merged(table)

    @classmethod
    def from_toml(cls, text: str, *, source: str = "") -> PriceTable:
        """Parse a price table from TOML text.

        Raises:
            PriceTableError: not TOML, or an entry with an unknown key or a non-numeric/negative
                price.
        """
        where = source or "price table"
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as e:
            raise PriceTableError(f"corrupt price table {where}: {e}") from None
        currency = data.get("currency", "USD")
        local = data.get("local_providers", [])
        if not isinstance(currency, str) or not isinstance(local, list):
            raise PriceTableError(f"corrupt price table {where}: bad currency or local_providers")
        raw = data.get("prices", {})
        if not isinstance(raw, dict):
            raise PriceTableError(f"corrupt price table {where}: [prices] must be a table")
        prices: dict[str, dict[str, ModelPrice]] = {}
        for provider, models in raw.items():
            if not isinstance(models, dict):
                raise PriceTableError(f"corrupt price table {where}: prices.{provider}")
            for model, entry in models.items():
                prices.setdefault(provider, {})[model] = _price(entry, f"{provider}/{model}", where)
        raw_hosts = data.get("hosts", {})
        if not isinstance(raw_hosts, dict):
            raise PriceTableError(f"corrupt price table {where}: [hosts] must be a table")
        hosts = {h.lower(): _host_rule(entry, h, where) for h, entry in raw_hosts.items()}
        return cls(prices, frozenset(str(x) for x in local), currency, source, hosts)

    def merged(self, other: PriceTable) -> PriceTable:
        """A table with ``other``'s entries, hosts and local providers added over this one's."""
        prices = {p: dict(models) for p, models in self.prices.items()}
        for provider, models in other.prices.items():
            prices.setdefault(provider, {}).update(models)
        return PriceTable(
            prices,
            self.local_providers | other.local_providers,
            other.currency,
            other.source,
            {**self.hosts, **other.hosts},
        )

    def price_for(self, provider: str, model: str) -> ModelPrice | None:
        """The price of ``provider``/``model``: the exact model, else the longest ``"prefix*"``
        it starts with, else the provider's ``"*"``; the provider exactly, else lower-cased."""
        models = self.prices.get(provider)
        if models is None:
            models = self.prices.get(provider.lower())
            if models is None:
                return None
        return _match(models, model)

    def _table_provider(self, provider: str) -> str | None:
        if provider in self.prices:
            return provider
        low = provider.lower()
        return low if low in self.prices else None

    def is_local(self, provider: str) -> bool:
        """True when ``provider`` runs on this machine (cost 0)."""
        return provider in self.local_providers or provider.lower() in self.local_providers

    def resolve(self, usage: ModelUsage, packages: PackageMap | None = None) -> UsageCost:
        """The cost of one row and whose prices apply (order: see the module docstring)."""
        raw = usage.provider
        model = usage.model
        if self.is_local(raw):
            return UsageCost(usage, 0.0, True, raw)
        package = packages.get(raw, model) if packages is not None else None
        host, hostname = split_host(raw)
        vendor, own = known_host(hostname) if hostname else (None, False)
        if package == "local":
            return UsageCost(usage, 0.0, True, raw, "", package)

        # the provider the row belongs to, before any host override
        billed: str | None
        if package is not None:
            # the package's rates wherever its base URL points, unless that is another vendor's
            # own API (openai.LLM.with_groq -> groq)
            billed = vendor if vendor is not None and own and vendor != package else package
        else:
            billed = self._table_provider(raw) or vendor

        rule = (self.hosts.get(host) or self.hosts.get(hostname)) if host else None
        if rule is not None:
            if rule.provider is not None:
                billed = rule.provider
            # billed by the host's own entry: no known provider -> the host itself bills
            name = billed or host
            via = "" if name == host or is_own_host(name, hostname) else host
            if rule.local:
                return UsageCost(usage, 0.0, True, name, via, package)
            price = _match(rule.prices, model)
            if price is not None:
                return UsageCost(usage, price.cost(usage), False, name, via, package)
        if billed is None:
            return UsageCost(usage, None, False, None, "", package)
        via = host if host and not is_own_host(billed, hostname) else ""
        price = self.price_for(billed, model)
        return UsageCost(usage, None if price is None else price.cost(usage), False, billed, via,
                         package)

    def cost(self, usage: ModelUsage, packages: PackageMap | None = None) -> float | None:
        """Estimated cost of one usage entry; 0.0 for local providers, ``None`` if unknown."""
        return self.resolve(usage, packages).cost

    def costs(self, usage: list[ModelUsage], packages: PackageMap | None = None) -> list[UsageCost]:
        """One ``UsageCost`` per usage entry, in the same order."""
        return [self.resolve(u, packages) for u in usage]

    def total(self, usage: list[ModelUsage], packages: PackageMap | None = None) -> float | None:
        """Sum of the known costs; ``None`` when there is usage but no cost is known."""
        known = [c for c in (self.cost(u, packages) for u in usage) if c is not None]
        if usage and not known:
            return None
        return sum(known)


def _match(models: dict[str, ModelPrice], model: str) -> ModelPrice | None:
    price = models.get(model)
    if price is not None:
        return price
    best = ""
    for key in models:
        if len(key) > len(best) and key.endswith("*") and model.startswith(key[:-1]):
            best = key
    return models[best] if best else None


def _price(entry: Any, name: str, where: str) -> ModelPrice:
    if not isinstance(entry, dict):
        raise PriceTableError(f"corrupt price table {where}: {name} must be a table")
    values: dict[str, float] = {}
    for key, value in entry.items():
        if key not in PRICE_KEYS:
            raise PriceTableError(f"corrupt price table {where}: {name} has unknown key {key!r}")
        if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
            raise PriceTableError(
                f"corrupt price table {where}: {name}.{key} must be a number >= 0"
            )
        values[key] = float(value)
    return ModelPrice(**values)


def _host_rule(entry: Any, host: str, where: str) -> HostRule:
    name = f"hosts.{host}"
    if not isinstance(entry, dict):
        raise PriceTableError(f"corrupt price table {where}: {name} must be a table")
    for key in entry:
        if key not in HOST_KEYS:
            raise PriceTableError(f"corrupt price table {where}: {name} has unknown key {key!r}")
    local = entry.get("local", False)
    provider = entry.get("provider")
    models = entry.get("prices", {})
    if not isinstance(local, bool):
        raise PriceTableError(f"corrupt price table {where}: {name}.local must be true or false")
    if provider is not None and (not isinstance(provider, str) or not provider):
        raise PriceTableError(f"corrupt price table {where}: {name}.provider must be a name")
    if not isinstance(models, dict):
        raise PriceTableError(f"corrupt price table {where}: {name}.prices must be a table")
    prices = {m: _price(e, f"{name}/{m}", where) for m, e in models.items()}
    return HostRule(local, provider, prices)
