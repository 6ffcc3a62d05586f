# escape=`
FROM busybox
RUN echo a `
  b
CMD ["c:\\x"]
