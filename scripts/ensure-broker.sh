#!/usr/bin/env bash
# Makes sure RabbitMQ answers at RABBITCAM_AMQP_URL (default: the local broker):
# starts a local one that is installed but stopped, installs it with apt when it
# is missing and we are root, and otherwise says exactly what to do.
set -euo pipefail
cd "$(dirname "$0")/.."

URL=${RABBITCAM_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}
URL=${URL%%,*}
PY=.venv/bin/python

broker_answers() {
  "$PY" - "$URL" <<'PYEOF' >/dev/null 2>&1
import sys, pika
params = pika.URLParameters(sys.argv[1])
params.socket_timeout = 2
params.connection_attempts = 1
pika.BlockingConnection(params).close()
PYEOF
}

wait_for_broker() {
  for _ in $(seq 1 90); do
    broker_answers && return 0
    sleep 1
  done
  return 1
}

if broker_answers; then
  echo "==> RabbitMQ is up"
  exit 0
fi

host=$("$PY" -c 'import sys, pika; print(pika.URLParameters(sys.argv[1]).host)' "$URL")
case "$host" in
  127.*|localhost|::1) ;;
  *)
    echo "RabbitMQ at $host does not answer. Start it there, or point RABBITCAM_AMQP_URL at one that runs." >&2
    exit 1 ;;
esac

if ! command -v rabbitmq-server >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "==> installing RabbitMQ (apt-get install rabbitmq-server)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
  else
    cat >&2 <<'MSG'
RabbitMQ is not installed and this script cannot install it (not root, or no apt).
Do one of:
  sudo apt-get install rabbitmq-server && sudo rabbitmq-server -detached
  docker run -d -p 5672:5672 rabbitmq:3
or set RABBITCAM_AMQP_URL=amqp://user:password@host:5672/ to a broker that runs.
MSG
    exit 1
  fi
fi

echo "==> starting RabbitMQ (rabbitmq-server -detached)"
rabbitmq-server -detached >/dev/null 2>&1 || true
if wait_for_broker; then
  echo "==> RabbitMQ is up"
else
  echo "RabbitMQ did not come up within 90 s; see its logs (usually /var/log/rabbitmq/)." >&2
  exit 1
fi
