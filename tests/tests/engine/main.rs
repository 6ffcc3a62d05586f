//! Integration tests of berthd through the Docker Engine API: the docker CLI, docker-py and
//! raw requests, faults and restarts.
//! One test binary per area (one link instead of one per file); the modules are the topics.

mod api;
mod api_edges;
mod build;
mod build_cli;
mod build_contexts;
mod build_layers;
mod build_scratch;
mod build_scratch_config;
mod config;
mod container_defaults;
mod docker_cli;
mod docker_cli_streams;
mod docker_py;
mod exec_user;
mod faults;
mod groups;
mod health;
mod image_verbs;
mod images;
mod init;
mod links;
mod refusals;
mod registry_disk_usage;
mod registry_distribution;
mod registry_push;
mod restart;
mod signals;
mod spec;
mod stop_status;
mod tls;
mod tty;
mod volumes;
