"""Adapters: web middleware and the guardrails bridge."""
