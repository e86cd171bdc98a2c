"""Estimated cost of a session's usage, from a TOML price table.

The default table ships as ``lkmon/prices.toml``; a user file given to ``PriceTable.load`` overrides
entries of it. Prices are per 1,000,000 tokens or characters and per minute of audio, in the
table's currency (USD by default). Providers in ``local_providers`` cost 0; a provider/model
missing from the table has an unknown cost (``None``), never 0.

No textual or livekit import here.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from lkmon.model.events import ModelUsage

PRICE_KEYS = (
    "input_per_1m",
    "cached_input_per_1m",
    "output_per_1m",
    "characters_per_1m",
    "audio_per_minute",
)


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


@dataclass(slots=True)
class UsageCost:
    """One usage entry with its estimated cost (``None`` when the price is unknown)."""

    usage: ModelUsage
    cost: float | None
    local: bool = False


@dataclass(slots=True)
class PriceTable:
    """Prices per provider and model.

    Attributes:
        prices: ``{provider: {model or "*": ModelPrice}}``.
        local_providers: providers that run on this machine and cost 0.
        currency: ISO code of the prices, e.g. ``"USD"``.
        source: where the table came from (for display).
    """

    prices: dict[str, dict[str, ModelPrice]] = field(default_factory=dict)
    local_providers: frozenset[str] = frozenset()
    currency: str = "USD"
    source: str = ""

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
        return cls(prices, frozenset(str(x) for x in local), currency, source)

    def merged(self, other: PriceTable) -> PriceTable:
        """A table with ``other``'s entries and local providers added over this one's."""
        prices = {p: dict(models) for p, models in self.prices.items()}
        for provider, models in other.prices.items():
            prices.setdefault(provider, {}).update(models)
        return PriceTable(
            prices, self.local_providers | other.local_providers, other.currency, other.source
        )

    def price_for(self, provider: str, model: str) -> ModelPrice | None:
        """The price of ``provider``/``model`` (exact model, else the provider's ``"*"``)."""
        models = self.prices.get(provider)
        if models is None:
            return None
        return models.get(model) or models.get("*")

    def is_local(self, provider: str) -> bool:
        """True when ``provider`` runs on this machine (cost 0)."""
        return provider in self.local_providers

    def cost(self, usage: ModelUsage) -> float | None:
        """Estimated cost of one usage entry; 0.0 for local providers, ``None`` if unknown."""
        if self.is_local(usage.provider):
            return 0.0
        price = self.price_for(usage.provider, usage.model)
        return None if price is None else price.cost(usage)

    def costs(self, usage: list[ModelUsage]) -> list[UsageCost]:
        """One ``UsageCost`` per usage entry, in the same order."""
        return [UsageCost(u, self.cost(u), self.is_local(u.provider)) for u in usage]

    def total(self, usage: list[ModelUsage]) -> float | None:
        """Sum of the known costs; ``None`` when there is usage but no cost is known."""
        known = [c for c in (self.cost(u) for u in usage) if c is not None]
        if usage and not known:
            return None
        return sum(known)


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
