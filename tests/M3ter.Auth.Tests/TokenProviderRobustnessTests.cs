using System;
using System.Linq;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Internal;
using M3ter.Auth.TestSupport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace M3ter.Auth.Tests;

/// <summary>Found by an adversarial review of the hardening: each failed before its fix.</summary>
public sealed class TokenProviderRobustnessTests
{
    private readonly FakeTimeProvider _time = TestOptions.Clock();
    private readonly CapturingLoggerProvider _logs = new();

    /// <summary>A logger whose sink fails (disk full, broken pipe): Microsoft's Logger rethrows that as an AggregateException.</summary>
    private sealed class ThrowingLogger : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
        {
            if (logLevel >= LogLevel.Warning)
            {
                throw new InvalidOperationException("log sink unavailable");
            }
        }
    }

    // D1: a failing token request whose failure log throws never completes the shared request: callers hang forever.
    [Fact]
    public async Task FailedFetch_WhenLoggingThrows_CallersStillGetAnAnswer()
    {
        var client = new FakeTokenClient(_time)
        {
            Behaviour = _ => Task.FromException<M3terToken>(new M3terAuthException("down", HttpStatusCode.ServiceUnavailable, null, null)),
        };
        using var provider = new TokenProvider(client, TestOptions.Create(), _time, new Logger<TokenProvider>(new LoggerFactory(new[] { new ThrowingLoggerProvider() })));

        Task<M3terToken> caller = provider.GetTokenAsync().AsTask();
        Task winner = await Task.WhenAny(caller, Task.Delay(TimeSpan.FromSeconds(5)));

        Assert.True(winner == caller, "the caller is still waiting 5 s after the token request failed");
        Assert.IsType<M3terAuthException>(await Record.ExceptionAsync(() => caller)); // observed, and the right failure
    }

    private sealed class ThrowingLoggerProvider : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new ThrowingLogger();

        public void Dispose()
        {
        }
    }

    // D2: a pre-issued JWT is served after its exp whenever the cache timer has not run yet (sleep, starved pool).
    [Fact]
    public async Task PreIssuedJwt_AfterExp_IsNeverReturned_EvenBeforeTheTimerRuns()
    {
        string jwt = StaticTokenTests.Jwt(_time.GetUtcNow().AddHours(1));
        var options = new M3terAuthOptions { AccessToken = jwt };
        using var http = new System.Net.Http.HttpClient(new DelegateHandler((_, _) => throw new InvalidOperationException("no token requests")));
        using var provider = new TokenProvider(new TokenClient(http, options, _time), options, _time);
        M3terToken token = await provider.GetTokenAsync();

        // The wall clock moves past exp without the timer having run yet (machine woke from sleep; or a pool-starved
        // timer callback): AdjustTime moves the clock and leaves timers where they are, as a real clock change does.
        _time.AdjustTime(_time.GetUtcNow().AddHours(2));

        M3terToken? served = null;
        Exception? error = await Record.ExceptionAsync(async () => served = await provider.GetTokenAsync());

        Assert.True(served is null, $"served the pre-issued token that expired at {served?.ExpiresAt:O}; now {_time.GetUtcNow():O}");
        Assert.IsType<M3terAuthException>(error); // documented: "requests fail with an M3terAuthException saying so"
    }

    // D3: a refresh that finishes late (slow endpoint, short token) publishes a token whose refresh point has passed, and
    // the publish starts the next request at once: an endless back-to-back token request loop with no caller at all.
    [Fact]
    public async Task SlowEndpoint_ShortTokens_DoNotCauseAnEndlessRefreshLoopWithoutCallers()
    {
        var client = new FakeTokenClient(_time);
        client.Behaviour = call =>
        {
            DateTimeOffset sent = _time.GetUtcNow();
            _time.Advance(TimeSpan.FromSeconds(6)); // the endpoint takes 6 s to answer
            return Task.FromResult(new M3terToken("token-" + call, "Bearer", sent + TimeSpan.FromSeconds(10), sent));
        };
        using var provider = new TokenProvider(client, TestOptions.Create(), _time, logger: null) { Random = () => 0 };

        await provider.GetTokenAsync();
        await Task.Delay(TimeSpan.FromSeconds(1)); // nobody calls; no time passes except what the endpoint takes

        Assert.True(client.Calls <= 2, $"{client.Calls} token requests without a single caller");
    }

    // D4: a background refresh of a provider that configuration has retired fails (old credentials revoked by the
    // rotation): nobody waits on it and the new provider serves fine, yet an Error "No m3ter access token" is logged.
    [Fact]
    public async Task RetiredProvidersFailedRefresh_LogsNoError()
    {
        var client = new FakeTokenClient(_time);
        using var provider = new TokenProvider(client, TestOptions.Create(), _time, new Logger<TokenProvider>(new LoggerFactory(new[] { _logs }))) { Random = () => 0 };
        await provider.GetTokenAsync();
        var refresh = new TaskCompletionSource<M3terToken>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.Behaviour = _ => refresh.Task;
        _time.Advance(TimeSpan.FromHours(5) - TimeSpan.FromMinutes(5)); // the refresh starts by itself
        await TestWait.UntilAsync(() => client.Calls == 2);

        provider.Replaceable().Retire(); // a reload replaced it
        refresh.SetException(new M3terAuthException("m3ter rejected the credentials of access key 'old'", HttpStatusCode.Unauthorized, "invalid_client", null));
        await TestWait.UntilAsync(() => !provider.Status().IsFetching);

        Assert.DoesNotContain(_logs.Logs, l => l.Level >= LogLevel.Error);
    }

    // D5: the cache timer now starts refreshes by itself and roots the provider (timer queue -> entry -> provider), so a
    // TokenProvider that is dropped without Dispose is never collected and keeps fetching tokens forever.
    [Fact]
    public async Task AbandonedProvider_IsCollected_AndStopsFetchingTokens()
    {
        var client = new FakeTokenClient(TimeProvider.System, TimeSpan.FromSeconds(2)); // refresh due after 1 s
        WeakReference abandoned = await UseAndDropAsync(client);

        // A pool thread may still hold the helper's frames for a moment after it returns; a leak holds forever.
        for (int attempt = 0; attempt < 50 && abandoned.IsAlive; attempt++)
        {
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            if (abandoned.IsAlive)
            {
                await Task.Delay(10);
            }
        }

        int callsAfterDrop = client.Calls;
        await Task.Delay(TimeSpan.FromSeconds(3));

        Assert.True(!abandoned.IsAlive && client.Calls == callsAfterDrop, $"alive: {abandoned.IsAlive}; token requests after it was dropped: {client.Calls - callsAfterDrop}");
    }

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static async Task<WeakReference> UseAndDropAsync(FakeTokenClient client)
    {
        var provider = new TokenProvider(client, TestOptions.Create(), TimeProvider.System);
        await provider.GetTokenAsync();
        return new WeakReference(provider); // not disposed: a per-call provider someone forgot to dispose
    }
}
