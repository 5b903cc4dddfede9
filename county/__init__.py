"""The county tier (县级政务服务中心): halls ship their event logs here; figures across centres, on PostgreSQL."""
