FROM busybox
RUN a \

  b
BAD
