"""Monitoring: Prometheus and Alertmanager configuration, Grafana dashboards, and the run report."""
