using System;
using System.Threading;

namespace M3ter.Auth.Internal;

/// <summary>
/// Starts long-lived work (cache timers, background token requests) without the caller's <see cref="ExecutionContext"/>:
/// otherwise the first caller's <c>AsyncLocal</c> values (its <c>Activity</c>, log scopes, baggage) stay reachable for
/// as long as the token lives, and the token request would run inside a random caller's trace.
/// </summary>
internal static class DetachedContext
{
    public static TResult Run<TState, TResult>(Func<TState, TResult> start, TState state)
    {
        if (ExecutionContext.IsFlowSuppressed())
        {
            return start(state);
        }

        AsyncFlowControl flow = ExecutionContext.SuppressFlow();
        try
        {
            return start(state);
        }
        finally
        {
            flow.Undo();
        }
    }
}
