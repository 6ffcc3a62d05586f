FROM busybox
RUN --mount=type=secret echo
