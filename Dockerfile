# ferrymq node image: the same CLI as on a laptop. docker-compose.yml runs the tutorial's three nodes from it.
FROM node:20-bookworm-slim
WORKDIR /opt/ferrymq
COPY package.json package-lock.json tsconfig.json ./
COPY src ./src
COPY bin ./bin
COPY conf ./conf
COPY web ./web
RUN npm ci && npm run build && npm prune --omit=dev
VOLUME /data
EXPOSE 61616 61617 61618 8161 8162 8163
ENTRYPOINT ["node", "bin/ferrymq"]
CMD ["start", "--data", "/data", "--transport", "tcp://0.0.0.0:61616"]
