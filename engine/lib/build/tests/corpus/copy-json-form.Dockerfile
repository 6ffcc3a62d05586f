FROM busybox
COPY ["Dockerfile", "/a b/"]
RUN ls "/a b"
