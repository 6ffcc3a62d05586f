  #   ESCAPE  =  `  
FROM busybox
RUN echo a `
 b
