FROM busybox
COPY --chown=${u Dockerfile /x
