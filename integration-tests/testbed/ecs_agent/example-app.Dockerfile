# The example app of the test bed: serves Prometheus metrics on every container port it is given.
# The ECS agent of the test bed reads this file (USER, ENTRYPOINT, CMD) and runs example_app.py
# at the path it has here. Build from the repository root:
#   docker build -f integration-tests/ecs_agent/example-app.Dockerfile -t example-app .
FROM python:3.11-slim
COPY integration-tests/ecs_agent/example_app.py /app/example_app.py
USER nobody
ENTRYPOINT ["python3", "/app/example_app.py"]
CMD ["8080"]
