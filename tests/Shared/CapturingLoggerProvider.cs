using System;
using System.Collections.Concurrent;
using System.Collections.Generic;
using System.Linq;
using Microsoft.Extensions.Logging;

namespace M3ter.Auth.TestSupport;

/// <summary>Captures every log line at every level (Trace included), with its exception, to search for secrets.</summary>
public sealed class CapturingLoggerProvider : ILoggerProvider
{
    private readonly ConcurrentQueue<CapturedLog> _logs = new();

    public IReadOnlyList<CapturedLog> Logs => _logs.ToArray();

    /// <summary>Everything written, formatted, one line per entry, exceptions and structured values included.</summary>
    public string AllText => string.Join(Environment.NewLine, _logs.Select(l => l.ToString()));

    public ILogger CreateLogger(string categoryName) => new Logger(categoryName, _logs);

    public void Dispose()
    {
    }

    private sealed class Logger(string category, ConcurrentQueue<CapturedLog> logs) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            string values = state is IEnumerable<KeyValuePair<string, object?>> pairs
                ? string.Join(", ", pairs.Select(p => p.Key + "=" + p.Value))
                : string.Empty;
            logs.Enqueue(new CapturedLog(category, logLevel, eventId, formatter(state, exception), values, exception?.ToString()));
        }
    }
}

public sealed record CapturedLog(string Category, LogLevel Level, EventId EventId, string Message, string Values, string? Exception)
{
    public override string ToString() => $"[{Level}] {Category} ({EventId.Name}): {Message} | {Values} | {Exception}";
}
