"""ganscope."""
