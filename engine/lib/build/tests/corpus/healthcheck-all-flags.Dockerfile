FROM busybox
HEALTHCHECK --interval=1m30s --timeout=500ms --start-period=1.5s --retries=+2 CMD ["true"]
