using System;
using System.Collections.Generic;
using System.Linq;
using System.Net;
using System.Net.Http;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Internal;
using M3ter.Auth.TestSupport;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace M3ter.Auth.Tests;

public sealed class TokenProviderTests
{
    private readonly FakeTimeProvider _time = TestOptions.Clock();
    private readonly CapturingLoggerProvider _logs = new();
    private readonly FakeTokenClient _client;

    public TokenProviderTests()
    {
        _client = new FakeTokenClient(_time, TimeSpan.FromHours(5));
    }

    private TokenProvider CreateProvider(Action<M3terAuthOptions>? configure = null, double jitter = 0) =>
        new(_client, TestOptions.Create(configure), _time, new Logger<TokenProvider>(new LoggerFactory(new[] { _logs }))) { Random = () => jitter };

    /// <summary>Waits (in real time, bounded) until a background task the test started has finished.</summary>
    [Fact]
    public async Task GetTokenAsync_WarmCache_ReturnsCachedTokenWithoutRequest()
    {
        using var provider = CreateProvider();
        M3terToken first = await provider.GetTokenAsync();

        _time.Advance(TimeSpan.FromHours(4));
        M3terToken second = await provider.GetTokenAsync();

        Assert.Same(first, second);
        Assert.Equal(1, _client.Calls);
    }

    [Fact]
    public async Task GetTokenAsync_WarmCache_CompletesSynchronouslyAndAllocatesNothing()
    {
        using var provider = CreateProvider();
        await provider.GetTokenAsync();

        ValueTask<M3terToken> warm = provider.GetTokenAsync();
        Assert.True(warm.IsCompletedSuccessfully);

        // A warm call that allocated (a ValueTask box, a closure) would show in every round: at least 24 B x 10,000.
        // The runtime itself may allocate on this thread once, while it compiles the loop (on-stack replacement, a
        // string literal): that shows in one round, not in all of them.
        var rounds = new List<long>();
        for (int round = 0; round < 5 && (rounds.Count == 0 || rounds[^1] != 0); round++)
        {
            rounds.Add(AllocatedBy10000WarmCalls(provider));
        }

        Assert.True(rounds[^1] == 0, $"bytes allocated by 10,000 warm calls, per round: {string.Join(", ", rounds)}");
    }

    private static long AllocatedBy10000WarmCalls(TokenProvider provider)
    {
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < 10_000; i++)
        {
            ValueTask<M3terToken> call = provider.GetTokenAsync();
            if (!call.IsCompletedSuccessfully)
            {
                Assert.Fail("a warm call did not complete synchronously");
            }
        }

        return GC.GetAllocatedBytesForCurrentThread() - before;
    }

    [Fact]
    public async Task GetTokenAsync_ConcurrentColdCallers_IssueOneTokenRequest()
    {
        using var provider = CreateProvider();
        _client.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        Task<M3terToken>[] callers = Enumerable.Range(0, 500)
            .Select(_ => Task.Run(async () => await provider.GetTokenAsync()))
            .ToArray();
        await TestWait.UntilAsync(() => _client.Calls == 1);
        await Task.Delay(50); // give every caller the chance to (wrongly) start its own request
        _client.Gate.SetResult();
        M3terToken[] tokens = await Task.WhenAll(callers);

        Assert.Equal(1, _client.Calls);
        Assert.All(tokens, t => Assert.Same(tokens[0], t));
    }

    [Fact]
    public async Task GetTokenAsync_CallerCancels_OnlyThatCallerStopsWaiting()
    {
        using var provider = CreateProvider();
        _client.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cts = new CancellationTokenSource();

        Task<M3terToken> cancelled = provider.GetTokenAsync(cts.Token).AsTask();
        Task<M3terToken> patient = provider.GetTokenAsync().AsTask();
        await TestWait.UntilAsync(() => _client.Calls == 1);
        cts.Cancel();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        Assert.False(_client.LastCancellationToken.IsCancellationRequested);
        Assert.False(patient.IsCompleted);
        _client.Gate.SetResult();
        Assert.Equal("token-1", (await patient).AccessToken);
        Assert.Equal(1, _client.Calls);
    }

    [Fact]
    public async Task GetTokenAsync_AlreadyCancelled_ThrowsWithoutRequest()
    {
        using var provider = CreateProvider();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => provider.GetTokenAsync(new CancellationToken(true)).AsTask());
        Assert.Equal(0, _client.Calls);
    }

    [Fact]
    public async Task GetTokenAsync_BeforeRefreshWindow_DoesNotRefresh()
    {
        using var provider = CreateProvider(o => o.RefreshBeforeExpiry = TimeSpan.FromMinutes(5));
        await provider.GetTokenAsync();

        _time.Advance(TimeSpan.FromHours(5) - TimeSpan.FromMinutes(5) - TimeSpan.FromTicks(1));
        await provider.GetTokenAsync();
        await Task.Delay(50);

        Assert.Equal(1, _client.Calls);
    }

    [Fact]
    public async Task GetTokenAsync_InsideRefreshWindow_ServesCurrentTokenAtOnceWhileOneBackgroundRefreshRuns()
    {
        using var provider = CreateProvider(o => o.RefreshBeforeExpiry = TimeSpan.FromMinutes(5));
        M3terToken first = await provider.GetTokenAsync();
        _client.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        _time.Advance(TimeSpan.FromHours(5) - TimeSpan.FromMinutes(5));
        ValueTask<M3terToken>[] calls = Enumerable.Range(0, 100).Select(_ => provider.GetTokenAsync()).ToArray();

        Assert.All(calls, c => Assert.True(c.IsCompletedSuccessfully));
        Assert.All(calls, c => Assert.Same(first, c.Result));
        await TestWait.UntilAsync(() => _client.Calls == 2);
        _client.Gate.SetResult();
        await TestWait.UntilAsync(() => provider.Status().CachedToken?.AccessToken == "token-2");
        Assert.Equal(2, _client.Calls);
        Assert.Equal("token-2", (await provider.GetTokenAsync()).AccessToken);
    }

    [Theory]
    [InlineData(120, 60)]     // 2-minute token: refresh halfway, not 5 minutes before expiry
    [InlineData(600, 300)]    // 10 minutes: exactly 5 minutes before = halfway
    [InlineData(3600, 3300)]  // 1 hour: 5 minutes before expiry
    [InlineData(2, 1)]        // 2 seconds: still cached for one
    public async Task RefreshAt_ShortTokensRefreshHalfwayLongOnesRefreshBeforeExpiry(int lifetimeSeconds, int refreshAfterSeconds)
    {
        _client.Lifetime = TimeSpan.FromSeconds(lifetimeSeconds);
        using var provider = CreateProvider(o => o.RefreshBeforeExpiry = TimeSpan.FromMinutes(5));
        DateTimeOffset issued = _time.GetUtcNow();

        await provider.GetTokenAsync();

        Assert.Equal(issued + TimeSpan.FromSeconds(refreshAfterSeconds), provider.Status().RefreshAt);
    }

    [Fact]
    public async Task RefreshAt_IsJitteredUpToTenPercentEarlier()
    {
        _client.Lifetime = TimeSpan.FromHours(5);
        using var provider = CreateProvider(o => o.RefreshBeforeExpiry = TimeSpan.FromMinutes(10), jitter: 1.0);
        DateTimeOffset issued = _time.GetUtcNow();

        await provider.GetTokenAsync();

        Assert.Equal(issued + TimeSpan.FromHours(5) - TimeSpan.FromMinutes(11), provider.Status().RefreshAt);
    }

    [Fact]
    public async Task GetTokenAsync_ShortLivedToken_IsStillCached()
    {
        _client.Lifetime = TimeSpan.FromSeconds(30);
        using var provider = CreateProvider();

        await provider.GetTokenAsync();
        _time.Advance(TimeSpan.FromSeconds(10));
        await provider.GetTokenAsync();

        Assert.Equal(1, _client.Calls);
    }

    [Fact]
    public async Task GetTokenAsync_TokenExpired_CallersWaitForANewOne()
    {
        using var provider = CreateProvider();
        await provider.GetTokenAsync();
        _client.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

        _time.Advance(TimeSpan.FromHours(5));
        ValueTask<M3terToken> waiting = provider.GetTokenAsync();

        Assert.False(waiting.IsCompleted);
        _client.Gate.SetResult();
        Assert.Equal("token-2", (await waiting).AccessToken);
    }

    [Fact]
    public async Task GetTokenAsync_ClockJumpsPastExpiry_FetchesNewTokenInsteadOfServingTheExpiredOne()
    {
        using var provider = CreateProvider();
        await provider.GetTokenAsync();

        _time.Advance(TimeSpan.FromDays(3)); // laptop lid closed over the weekend
        M3terToken token = await provider.GetTokenAsync();

        Assert.Equal("token-2", token.AccessToken);
        Assert.True(token.ExpiresAt > _time.GetUtcNow());
    }

    [Fact]
    public async Task GetTokenAsync_MachineSleptPastExpiry_NoticedWithinAMinuteOfWaking()
    {
        // Timers run on a monotonic clock that stands still while the machine sleeps; the wall clock does not.
        var sleepy = new SleepyTimeProvider(_time);
        var client = new FakeTokenClient(sleepy, TimeSpan.FromHours(5));
        using var provider = new TokenProvider(client, TestOptions.Create(), sleepy) { Random = () => 0 };
        M3terToken before = await provider.GetTokenAsync();

        sleepy.Sleep(TimeSpan.FromHours(6));
        _time.Advance(TimeSpan.FromMinutes(1)); // the first minute awake: the entry's timer wakes and reads the wall clock
        M3terToken after = await provider.GetTokenAsync();

        Assert.NotSame(before, after);
        Assert.True(after.ExpiresAt > sleepy.GetUtcNow());
        Assert.Equal(2, client.Calls);
    }

    /// <summary>A wall clock that can jump ahead (sleep) while timers, like the runtime's, do not see the jump.</summary>
    private sealed class SleepyTimeProvider(FakeTimeProvider monotonic) : TimeProvider
    {
        private TimeSpan _slept;

        public void Sleep(TimeSpan duration) => _slept += duration;

        public override DateTimeOffset GetUtcNow() => monotonic.GetUtcNow() + _slept;

        public override ITimer CreateTimer(TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period) =>
            monotonic.CreateTimer(callback, state, dueTime, period);
    }

    [Fact]
    public async Task GetTokenAsync_BackgroundRefreshFails_KeepsServingValidTokenAndBacksOff()
    {
        using var provider = CreateProvider();
        M3terToken first = await provider.GetTokenAsync();
        _client.Behaviour = _ => Task.FromException<M3terToken>(new M3terAuthException("boom", HttpStatusCode.ServiceUnavailable, null, null));

        _time.Advance(TimeSpan.FromHours(5) - TimeSpan.FromMinutes(4));
        Assert.Same(first, await provider.GetTokenAsync());
        await TestWait.UntilAsync(() => !provider.Status().IsFetching && provider.Status().RefreshAt > _time.GetUtcNow());

        // Within the back-off nothing new is requested however many callers come.
        for (int i = 0; i < 100; i++)
        {
            Assert.Same(first, await provider.GetTokenAsync());
        }

        Assert.Equal(2, _client.Calls);
        Assert.Single(_logs.Logs, l => l.Level == LogLevel.Warning && l.EventId.Name == "BackgroundRefreshFailed");

        // After the back-off it tries again by itself; once the endpoint recovers the new token is used.
        _client.Behaviour = null;
        _time.Advance(provider.Status().RefreshAt!.Value - _time.GetUtcNow());
        await TestWait.UntilAsync(() => provider.Status().CachedToken?.AccessToken == "token-3");
        Assert.Single(_logs.Logs, l => l.Level == LogLevel.Warning);
    }

    [Fact]
    public async Task GetTokenAsync_BackgroundRefreshKeepsFailing_RetriesBeforeTheTokenRunsOut()
    {
        using var provider = CreateProvider();
        M3terToken first = await provider.GetTokenAsync();
        _client.Behaviour = _ => Task.FromException<M3terToken>(new M3terAuthException("boom"));
        _time.Advance(TimeSpan.FromHours(5) - TimeSpan.FromMinutes(5));

        for (int attempt = 0; attempt < 20 && _time.GetUtcNow() < first.ExpiresAt; attempt++)
        {
            // The failed attempt is over and its retry is scheduled; no caller is needed to start it.
            await TestWait.UntilAsync(() => !provider.Status().IsFetching && provider.Status().RefreshAt > _time.GetUtcNow());
            Assert.True(provider.Status().RefreshAt < first.ExpiresAt);
            Assert.Same(first, await provider.GetTokenAsync());
            int calls = _client.Calls;
            _time.Advance(provider.Status().RefreshAt!.Value - _time.GetUtcNow());
            await TestWait.UntilAsync(() => _client.Calls == calls + 1);
        }

        Assert.True(_client.Calls >= 8, "the refresh is retried with back-off while the token lasts");
    }

    [Fact]
    public async Task RefreshDue_StartsInTheBackground_WithoutWaitingForACaller()
    {
        using var provider = CreateProvider();
        await provider.GetTokenAsync();

        _time.Advance(TimeSpan.FromHours(5) - TimeSpan.FromMinutes(5)); // a quiet process: nobody calls

        await TestWait.UntilAsync(() => provider.Status().CachedToken?.AccessToken == "token-2");
        Assert.Equal(2, _client.Calls);
    }

    [Fact]
    public async Task RefreshRetry_AfterAFailureThatEndsNearExpiry_StartsByItself_AndIsNeverLost()
    {
        // A refresh that hangs until just before expiry, then fails: its retry is published together with the end of
        // the request (under one lock), so the retry falls due, starts by itself, and nobody has to call.
        _client.Lifetime = TimeSpan.FromSeconds(10);
        using var provider = CreateProvider();
        await provider.GetTokenAsync();
        _client.Lifetime = TimeSpan.FromHours(5);
        var failing = new TaskCompletionSource<M3terToken>(TaskCreationOptions.RunContinuationsAsynchronously);
        _client.Behaviour = call => call == 2 ? failing.Task : Task.FromResult(_client.Issue(call));
        _time.Advance(TimeSpan.FromSeconds(5)); // halfway: the timer starts the refresh
        await TestWait.UntilAsync(() => _client.Calls == 2);
        _time.Advance(TimeSpan.FromMilliseconds(4700)); // 300 ms left

        failing.SetException(new M3terAuthException("boom")); // retry in half of what is left: 150 ms
        await TestWait.UntilAsync(() => !provider.Status().IsFetching && provider.Status().RefreshAt > _time.GetUtcNow());
        Assert.Equal(TimeSpan.FromMilliseconds(150), provider.Status().RefreshAt!.Value - _time.GetUtcNow());
        _time.Advance(TimeSpan.FromMilliseconds(150));

        await TestWait.UntilAsync(() => _client.Calls == 3);
        await TestWait.UntilAsync(() => provider.Status().CachedToken?.AccessToken == "token-3");
    }

    [Fact]
    public async Task RefreshRetry_NeverSpins_WhenTheClockStandsStillAtTheLastInstant()
    {
        // Half of what is left rounds towards zero near expiry; a floor keeps retries apart even on a frozen clock.
        _client.Lifetime = TimeSpan.FromSeconds(10);
        using var provider = CreateProvider();
        await provider.GetTokenAsync();
        _client.Behaviour = _ => Task.FromException<M3terToken>(new M3terAuthException("boom"));
        _time.Advance(TimeSpan.FromMilliseconds(9950)); // 50 ms left: no room for another try

        await TestWait.UntilAsync(() => _client.Calls >= 2 && !provider.Status().IsFetching);
        await Task.Delay(200);

        Assert.Equal(2, _client.Calls);
    }

    [Fact]
    public async Task GetTokenAsync_TokenClientCancelledWithoutBeingAsked_CountsAsAFailureAndBacksOff()
    {
        // A custom ITokenClient whose HttpClient.Timeout fires throws OperationCanceledException nobody asked for.
        using var provider = CreateProvider();
        M3terToken first = await provider.GetTokenAsync();
        _client.Behaviour = _ => Task.FromException<M3terToken>(new TaskCanceledException("The request was canceled due to the configured HttpClient.Timeout of 100 seconds elapsing."));

        _time.Advance(TimeSpan.FromHours(5) - TimeSpan.FromMinutes(4));
        await TestWait.UntilAsync(() => !provider.Status().IsFetching && provider.Status().RefreshAt > _time.GetUtcNow());
        for (int i = 0; i < 100; i++)
        {
            Assert.Same(first, await provider.GetTokenAsync());
        }

        Assert.Equal(2, _client.Calls); // backed off: no new refresh per call

        _time.Advance(TimeSpan.FromHours(1)); // expired: a caller now waits, and gets a clear error, not a cancellation
        var error = await Assert.ThrowsAsync<M3terAuthException>(() => provider.GetTokenAsync().AsTask());
        Assert.IsAssignableFrom<OperationCanceledException>(error.GetBaseException());
        Assert.Contains("cancelled", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task GetTokenAsync_FirstCallersAmbientState_IsNotKeptAliveByTheProvider()
    {
        // The cache entry's timer and the background fetch must not capture the first caller's ExecutionContext:
        // its AsyncLocal values (Activity, log scopes, baggage) would live as long as the token.
        var client = new FakeTokenClient(TimeProvider.System, TimeSpan.FromHours(5));
        using var provider = new TokenProvider(client, TestOptions.Create(), TimeProvider.System);

        WeakReference ambient = await FirstCallWithAmbientStateAsync(provider);

        // The thread that ran the helper keeps its context as "current" until it unwinds back to the pool, which it
        // may not have done yet when this continuation runs. That hold is brief; a leak through the provider is
        // permanent. So collect until the value is gone or two seconds have passed.
        for (int attempt = 0; attempt < 100 && ambient.IsAlive; attempt++)
        {
            await Task.Delay(20);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
        }

        Assert.False(ambient.IsAlive, "the first caller's AsyncLocal value is still reachable from the provider");
        Assert.Equal(1, client.Calls);
        GC.KeepAlive(provider);
    }

    private static readonly AsyncLocal<byte[]?> Ambient = new();

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.NoInlining)]
    private static async Task<WeakReference> FirstCallWithAmbientStateAsync(TokenProvider provider)
    {
        await Task.Yield();
        var value = new byte[10 * 1024 * 1024];
        Ambient.Value = value;
        await provider.GetTokenAsync();
        return new WeakReference(value);
    }

    [Fact]
    public async Task GetTokenAsync_TokenRequestActivity_IsNotAChildOfTheFirstCallersActivity()
    {
        using var source = new System.Diagnostics.ActivitySource("M3ter.Auth.Tests.Caller");
        using var listener = new System.Diagnostics.ActivityListener
        {
            ShouldListenTo = s => s.Name is "M3ter.Auth.Tests.Caller",
            Sample = (ref System.Diagnostics.ActivityCreationOptions<System.Diagnostics.ActivityContext> _) => System.Diagnostics.ActivitySamplingResult.AllData,
        };
        System.Diagnostics.ActivitySource.AddActivityListener(listener);
        System.Diagnostics.Activity? seenByTheFetch = new System.Diagnostics.Activity("sentinel");
        _client.Behaviour = call =>
        {
            seenByTheFetch = System.Diagnostics.Activity.Current;
            return Task.FromResult(_client.Issue(call));
        };
        using var provider = CreateProvider();

        using (System.Diagnostics.Activity? request = source.StartActivity("incoming request"))
        {
            Assert.NotNull(request);
            await provider.GetTokenAsync();
        }

        Assert.Null(seenByTheFetch); // the token request starts a trace of its own
    }

    [Fact]
    public async Task Logs_BackgroundRefreshFailureCoveredByAValidToken_IsOneWarningAndNoError_ACallerFailedIsOneError()
    {
        bool failing = false;
        var endpoint = new DelegateHandler((_, _) => Task.FromResult(Volatile.Read(ref failing)
            ? new HttpResponseMessage(HttpStatusCode.ServiceUnavailable) { Content = new System.Net.Http.StringContent("{\"message\":\"down\"}") }
            : new HttpResponseMessage(HttpStatusCode.OK) { Content = new System.Net.Http.StringContent("{\"access_token\":\"t\",\"expires_in\":3600}") }));
        M3terAuthOptions options = TestOptions.Create(o => o.MaxRetryAttempts = 2);
        var loggers = new LoggerFactory(new[] { _logs });
        using var provider = new TokenProvider(
            new TokenClient(new System.Net.Http.HttpClient(endpoint), options, _time, loggers.CreateLogger<TokenClient>()),
            options,
            _time,
            loggers.CreateLogger<TokenProvider>()) { Random = () => 0 };
        M3terToken first = await provider.GetTokenAsync();
        Volatile.Write(ref failing, true);

        _time.Advance(TimeSpan.FromMinutes(55)); // the refresh point of a 1-hour token
        for (int round = 0; round < 4; round++)
        {
            await TestWait.UntilAsync(() => !provider.Status().IsFetching && provider.Status().RefreshAt > _time.GetUtcNow());
            Assert.Same(first, await provider.GetTokenAsync());
            _time.Advance(provider.Status().RefreshAt!.Value - _time.GetUtcNow());
        }

        await TestWait.UntilAsync(() => !provider.Status().IsFetching);
        Assert.True(endpoint.Calls >= 1 + (4 * 3), $"{endpoint.Calls} token requests");
        Assert.DoesNotContain(_logs.Logs, l => l.Level >= LogLevel.Error);
        Assert.Single(_logs.Logs, l => l.Level == LogLevel.Warning);
        Assert.Single(_logs.Logs, l => l.EventId.Name == "BackgroundRefreshFailed");

        _time.Advance(first.ExpiresAt - _time.GetUtcNow()); // now callers have no token: that failure is an Error, once
        await Assert.ThrowsAsync<M3terAuthException>(() => provider.GetTokenAsync().AsTask());
        Assert.Single(_logs.Logs, l => l.Level == LogLevel.Error);
    }

    [Fact]
    public async Task GetTokenAsync_SharedFailure_EachWaitingCallerGetsItsOwnException()
    {
        using var provider = CreateProvider();
        var failing = new TaskCompletionSource<M3terToken>(TaskCreationOptions.RunContinuationsAsynchronously);
        _client.Behaviour = _ => failing.Task;
        Task<M3terToken>[] callers = Enumerable.Range(0, 50).Select(_ => provider.GetTokenAsync().AsTask()).ToArray();
        await TestWait.UntilAsync(() => _client.Calls == 1);

        var shared = new M3terAuthException("down", HttpStatusCode.ServiceUnavailable, "e", "d", new HttpRequestException("connection reset"));
        failing.SetException(shared);

        Exception[] errors = await Task.WhenAll(callers.Select(c => Record.ExceptionAsync(() => c)));
        Assert.All(errors, e => Assert.Equal(HttpStatusCode.ServiceUnavailable, Assert.IsType<M3terAuthException>(e).StatusCode));
        Assert.Equal(errors.Length, errors.Distinct(System.Collections.Generic.ReferenceEqualityComparer.Instance).Count());
        Assert.All(errors, e => Assert.Same(shared.InnerException, e.InnerException)); // what the original says
        Assert.All(errors, e => Assert.NotSame(shared, e));
        Assert.Equal(1, _client.Calls);
    }

    [Fact]
    public async Task Invalidate_DropsOnlyTheTokenPassedIn()
    {
        using var provider = CreateProvider();
        M3terToken first = await provider.GetTokenAsync();

        provider.Invalidate(new M3terToken("someone-else", "Bearer", first.ExpiresAt));
        Assert.Same(first, await provider.GetTokenAsync());

        provider.Invalidate(first);
        M3terToken second = await provider.GetTokenAsync();
        Assert.Equal("token-2", second.AccessToken);

        provider.Invalidate(first); // stale: the cache holds token-2 now
        Assert.Same(second, await provider.GetTokenAsync());
        Assert.Equal(2, _client.Calls);
    }

    [Fact]
    public async Task GetTokenAsync_CredentialsRejected_IsRememberedBrieflySoCallersDoNotStorm()
    {
        using var provider = CreateProvider(o => o.RejectedCredentialsCacheDuration = TimeSpan.FromSeconds(30));
        _client.Behaviour = _ => Task.FromException<M3terToken>(new M3terAuthException("rejected", HttpStatusCode.Unauthorized, "invalid_client", "Bad credentials"));

        for (int i = 0; i < 200; i++)
        {
            var error = await Assert.ThrowsAsync<M3terAuthException>(() => provider.GetTokenAsync().AsTask());
            Assert.Equal(HttpStatusCode.Unauthorized, error.StatusCode);
        }

        Assert.Equal(1, _client.Calls);
        _time.Advance(TimeSpan.FromSeconds(30));
        await Assert.ThrowsAsync<M3terAuthException>(() => provider.GetTokenAsync().AsTask());
        Assert.Equal(2, _client.Calls);

        _client.Behaviour = null;
        _time.Advance(TimeSpan.FromSeconds(30));
        Assert.Equal("token-3", (await provider.GetTokenAsync()).AccessToken);
    }

    [Fact]
    public async Task GetTokenAsync_CredentialsRejected_RememberedForTimeSpanMaxValue_DoesNotOverflow()
    {
        // now + TimeSpan.MaxValue overflowed into the past, so nothing was remembered: 20 calls, 20 token requests.
        using var provider = CreateProvider(o => o.RejectedCredentialsCacheDuration = TimeSpan.MaxValue);
        _client.Behaviour = _ => Task.FromException<M3terToken>(new M3terAuthException("rejected", HttpStatusCode.Unauthorized, "invalid_client", "Bad credentials"));

        for (int i = 0; i < 20; i++)
        {
            await Assert.ThrowsAsync<M3terAuthException>(() => provider.GetTokenAsync().AsTask());
        }

        _time.Advance(TimeSpan.FromDays(3650));
        await Assert.ThrowsAsync<M3terAuthException>(() => provider.GetTokenAsync().AsTask());
        Assert.Equal(1, _client.Calls);
    }

    [Fact]
    public async Task GetTokenAsync_TransientFailure_IsNotRemembered()
    {
        using var provider = CreateProvider();
        _client.Behaviour = call => call == 1
            ? Task.FromException<M3terToken>(new M3terAuthException("down", HttpStatusCode.ServiceUnavailable, null, null))
            : Task.FromResult(_client.Issue(call));

        await Assert.ThrowsAsync<M3terAuthException>(() => provider.GetTokenAsync().AsTask());
        M3terToken token = await provider.GetTokenAsync();

        Assert.Equal("token-2", token.AccessToken);
    }

    [Fact]
    public async Task GetTokenAsync_FailedFetch_DoesNotLeaveAnUnobservedTaskException()
    {
        bool unobserved = false;
        EventHandler<UnobservedTaskExceptionEventArgs> handler = (_, e) => unobserved |= e.Exception.InnerExceptions.Any(x => x is M3terAuthException);
        TaskScheduler.UnobservedTaskException += handler;
        try
        {
            using (var provider = CreateProvider())
            {
                await provider.GetTokenAsync();
                _client.Behaviour = _ => Task.FromException<M3terToken>(new M3terAuthException("background failure nobody awaits"));
                _time.Advance(TimeSpan.FromHours(5) - TimeSpan.FromMinutes(1));
                await provider.GetTokenAsync();
                await TestWait.UntilAsync(() => _client.Calls == 2);
                await Task.Delay(50);
            }

            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= handler;
        }

        Assert.False(unobserved);
    }

    [Fact]
    public async Task Dispose_CancelsTheRequestInFlight()
    {
        var provider = CreateProvider();
        _client.Gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Task<M3terToken> waiting = provider.GetTokenAsync().AsTask();
        await TestWait.UntilAsync(() => _client.Calls == 1);

        provider.Dispose();

        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiting);
        await Assert.ThrowsAsync<ObjectDisposedException>(() => provider.GetTokenAsync().AsTask());
    }

    [Fact]
    public void ToString_OfTokenAndOptions_NeverShowSecrets()
    {
        var token = new M3terToken("super-secret-access-token", "Bearer", _time.GetUtcNow());
        var options = TestOptions.Create();

        Assert.DoesNotContain("super-secret-access-token", token.ToString(), StringComparison.Ordinal);
        Assert.Contains("Bearer token expiring", token.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain(TestOptions.Secret, options.ToString(), StringComparison.Ordinal);
        Assert.Contains(TestOptions.KeyId, options.ToString(), StringComparison.Ordinal);
        var display = (System.Diagnostics.DebuggerDisplayAttribute)Attribute.GetCustomAttribute(typeof(M3terToken), typeof(System.Diagnostics.DebuggerDisplayAttribute))!;
        Assert.Equal("{ToString(),nq}", display.Value);
    }
}
