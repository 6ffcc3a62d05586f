FROM busybox
RUN --mount=type=foo echo
