ARG A=1
ARG B=$A
FROM busybox:${B:+latest}
ARG B
RUN test "$B" = 1
