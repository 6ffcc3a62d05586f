FROM scratch
CMD ["x"]
