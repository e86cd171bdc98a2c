"""Who a usage row belongs to: well-known API hosts and the plugin packages behind metrics.

LiveKit usage rows carry only ``provider`` and ``model``; the OpenAI plugins (and every plugin
built on them) report as ``provider`` the host of their base URL. ``split_host`` and
``known_host`` read such a host, ``package_of`` and ``PackageMap`` learn from plugin metric labels
which plugin package reported a provider/model. ``lkmon.model.usage.PriceTable.resolve`` uses
them to choose whose prices apply. No textual or livekit import here.
"""

from __future__ import annotations

__all__ = [
    "HOST_SUFFIXES",
    "KNOWN_HOSTS",
    "PackageMap",
    "is_own_host",
    "known_host",
    "package_of",
    "split_host",
]

KNOWN_HOSTS: dict[str, str] = {
    "api.openai.com": "openai",
    "api.deepgram.com": "deepgram",
    "api.cartesia.ai": "cartesia",
    "api.elevenlabs.io": "elevenlabs",
    "api.anthropic.com": "anthropic",
    "generativelanguage.googleapis.com": "google",
    "api.groq.com": "groq",
    "api.cerebras.ai": "cerebras",
    "api.sambanova.ai": "sambanova",
    "api.fireworks.ai": "fireworks",
    "api.x.ai": "xai",
    "openrouter.ai": "openrouter",
    "api.deepseek.com": "deepseek",
    "api.perplexity.ai": "perplexity",
    "api.together.xyz": "together",
    "api.telnyx.com": "telnyx",
}
"""The API hosts of well-known vendors (their own: no ``via``)."""

HOST_SUFFIXES: tuple[tuple[str, str], ...] = ((".openai.azure.com", "openai"),)
"""Hosts that serve a vendor's models but are not its own (shown ``via``): Azure OpenAI bills
about OpenAI's list prices."""


def package_of(label: str) -> str | None:
    """The provider a plugin class (a metric ``label``) belongs to, from its package.

    ``livekit.plugins.openai.llm.LLM`` -> ``openai`` (any ``livekit.plugins.NAME``);
    ``livekit.agents.inference.llm.LLM`` -> ``livekit``; ``lkmon.local.llm.SmolLLM`` -> ``local``.
    Adapters (``livekit.agents.stt.StreamAdapter``...) and unknown labels -> ``None``.
    """
    if label.startswith("livekit.plugins."):
        name = label.split(".", 3)[2]
        return name or None
    if label.startswith("livekit.agents.inference."):
        return "livekit"
    if label.startswith("lkmon.local."):
        return "local"
    return None


class PackageMap:
    """``(provider, model)`` -> plugin package, learned from plugin metrics.

    A usage row has no label; a metric of the same provider/model does. Adapter labels teach
    nothing (LiveKit's stream adapters re-emit the wrapped plugin's metrics with its label).
    """

    __slots__ = ("_by_key", "_labels")

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], str] = {}
        self._labels: dict[str, str | None] = {}

    def saw(self, label: str, provider: str, model: str) -> None:
        """Record the package of ``label`` for ``provider``/``model`` (one metric)."""
        labels = self._labels
        if label in labels:
            package = labels[label]
        else:
            package = labels[label] = package_of(label)
        if package is not None:
            self._by_key[(provider, model)] = package

    def set(self, provider: str, model: str, package: str) -> None:
        """Record ``package`` for ``provider``/``model`` directly (a loaded snapshot)."""
        self._by_key[(provider, model)] = package

    def get(self, provider: str, model: str) -> str | None:
        """The package seen for ``provider``/``model``, or ``None``."""
        return self._by_key.get((provider, model))

    def __len__(self) -> int:
        return len(self._by_key)


def split_host(provider: str) -> tuple[str, str]:
    """``(host, hostname)`` when ``provider`` looks like a base-URL host (``127.0.0.1:8000``,
    ``api.openai.com``), lower-cased, the hostname without port; else ``("", "")``."""
    p = provider.strip().lower()
    if not p or " " in p or "/" in p:
        return "", ""
    if "." not in p and ":" not in p and p != "localhost":
        return "", ""
    name = p
    if p.startswith("["):  # [::1]:8000
        name = p[: p.find("]") + 1] if "]" in p else p
    elif p.count(":") == 1:
        name = p.split(":", 1)[0]
    return p, name


def known_host(hostname: str) -> tuple[str | None, bool]:
    """``(provider, own)`` for a well-known API host: ``("openai", True)`` for
    ``api.openai.com``, ``("openai", False)`` for an Azure OpenAI resource; ``(None, False)``."""
    provider = KNOWN_HOSTS.get(hostname)
    if provider is not None:
        return provider, True
    for suffix, vendor in HOST_SUFFIXES:
        if hostname.endswith(suffix):
            return vendor, False
    return None, False


def is_own_host(provider: str, hostname: str) -> bool:
    """True when ``hostname`` is ``provider``'s own API host (``api.openai.com`` for openai)."""
    return KNOWN_HOSTS.get(hostname) == provider
