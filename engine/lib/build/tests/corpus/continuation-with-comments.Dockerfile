FROM busybox
RUN echo a \
# c1
  # c2
  b
