FROM busybox AS b
RUN echo x > /f
FROM busybox
COPY --from=b /f /g
COPY --from=0 /f /h
