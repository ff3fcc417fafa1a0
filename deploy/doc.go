// Package deploy holds rightsize's deployment definitions, the files an
// operator hands to Docker Compose, Caddy, Prometheus, Grafana, Cloud Run,
// ECS Fargate and Azure Container Apps, and the tests that check each of them
// against the program itself: its commands, its configuration table, its
// routes and its metrics. It has no code of its own.
package deploy
