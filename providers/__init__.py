"""Upstream adapters: one module per provider type, all behind providers.base.Provider."""
