"""Upstream adapters: one module or small package per provider type, each a `unified.provider.Provider`
(most through the HTTP plumbing in `providers.base.HTTPProvider`), registered by type in `providers.registry`."""
