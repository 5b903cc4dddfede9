"""The provincial 好差评 platform link (issue #16 point 4): mapping, outbox and forwarder, simulator, reconciliation."""
