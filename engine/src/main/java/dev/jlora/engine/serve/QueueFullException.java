package dev.jlora.engine.serve;

/** The scheduler's wait queue is at its limit; the client should retry later (HTTP 503 + Retry-After). */
public final class QueueFullException extends RuntimeException {
    public QueueFullException(int queued, int limit) {
        super("queue full: " + queued + " requests are waiting (limit " + limit + "); retry later");
    }
}
