using System;
using System.Linq;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Internal;
using Microsoft.Extensions.Time.Testing;

namespace M3ter.Auth.Tests;

/// <summary>
/// How <see cref="TokenProvider"/> uses an <see cref="ISharedTokenCache"/>: never on the warm path; on a miss read, lease,
/// read again, fetch, write, release; waiting for another process's lease only when it has no token; and forgetting
/// a refused token fleet-wide. An in-memory cache stands in for Redis (the Redis tests check the real one).
/// </summary>
public sealed class SharedTokenCacheTests
{
    private readonly FakeTimeProvider _time = TestOptions.Clock();
    private readonly FakeTokenClient _client;
    private readonly InMemorySharedCache _cache = new();

    public SharedTokenCacheTests()
    {
        _client = new FakeTokenClient(_time, TimeSpan.FromHours(5));
    }

    private TokenProvider Provider(ITokenClient? client = null, ISharedTokenCache? cache = null, Action<M3terAuthOptions>? configure = null) =>
        new(client ?? _client, TestOptions.Create(configure), _time, null, cache ?? _cache) { Random = () => 0 };

    /// <summary>Moves the provider's clock on in poll-sized steps (up to 5 s) until <paramref name="waiting"/> completes; returns how far it moved.</summary>
    private async Task<TimeSpan> PollUntilDoneAsync(Task waiting)
    {
        TimeSpan waited = TimeSpan.Zero;
        for (int i = 0; i < 100 && !waiting.IsCompleted; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(50));
            waited += TimeSpan.FromMilliseconds(50);
            await Task.Delay(2);
        }

        return waited;
    }

    [Fact]
    public async Task Refresh_WhileTheStoreIsUnavailable_WaitsWhileTheTokenHasTimeLeft_ThenFetches()
    {
        // A slow or unreachable store during a refresh means "try again shortly", not "fetch now": otherwise every
        // process of a fleet whose Redis is slow refreshes on its own (one token request per process per cycle).
        using TokenProvider provider = Provider();
        M3terToken first = await provider.GetTokenAsync();
        _cache.Unavailable = "Redis is unavailable (test)";

        _time.Advance(first.ExpiresAt - _time.GetUtcNow() - TimeSpan.FromMinutes(4)); // the refresh is due
        for (int i = 0; i < 10; i++)
        {
            Assert.Same(first, await provider.GetTokenAsync());
            await Task.Delay(5);
            _time.Advance(TimeSpan.FromSeconds(5));
        }

        Assert.Equal(1, _client.Calls); // 3 min 10 s left: more than half of the 5-minute refresh window

        _time.Advance(TimeSpan.FromMinutes(1)); // 2 min 10 s left: the refresh fetches whatever the store says
        Assert.Same(first, await provider.GetTokenAsync());
        await TestWait.UntilAsync(() => _client.Calls == 2);
        await TestWait.UntilAsync(() => provider.GetTokenAsync().AsTask().Result != first);
    }

    [Fact]
    public async Task WarmPath_NeverTouchesTheSharedCache()
    {
        using TokenProvider provider = Provider();
        await provider.GetTokenAsync();
        int calls = _cache.Calls.Count;

        for (int i = 0; i < 10_000; i++)
        {
            ValueTask<M3terToken> warm = provider.GetTokenAsync();
            Assert.True(warm.IsCompletedSuccessfully);
        }

        Assert.Equal(calls, _cache.Calls.Count);
    }

    [Fact]
    public async Task Miss_ReadsLeasesReadsAgainFetchesWritesAndReleases_InThatOrder()
    {
        using TokenProvider provider = Provider();

        M3terToken token = await provider.GetTokenAsync();

        Assert.Equal(new[] { "read", "lease", "read", "write", "release" }, _cache.Calls);
        Assert.Equal(1, _client.Calls);
        Assert.Equal(token.AccessToken, _cache.Stored!.AccessToken);
    }

    [Fact]
    public async Task AnotherProcessesToken_IsAdopted_WithoutATokenRequest()
    {
        using TokenProvider first = Provider();
        M3terToken shared = await first.GetTokenAsync();
        using TokenProvider second = Provider(new FakeTokenClient(_time));

        M3terToken adopted = await second.GetTokenAsync();

        Assert.Equal(shared.AccessToken, adopted.AccessToken);
        Assert.Equal(shared.ExpiresAt, adopted.ExpiresAt);
        Assert.Equal(1, _client.Calls);
    }

    [Fact]
    public async Task ColdFleet_OneLeaseHolderFetches_TheOthersWaitAndAdoptItsToken()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var client = new FakeTokenClient(_time) { Gate = gate };
        TokenProvider[] fleet = Enumerable.Range(0, 10).Select(_ => Provider(client)).ToArray();

        Task<M3terToken>[] tokens = fleet.Select(p => p.GetTokenAsync().AsTask()).ToArray();
        await TestWait.UntilAsync(() => client.Calls == 1 && _cache.LeaseRefusals == 9);
        for (int i = 0; i < 5; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(50)); // the waiting processes poll on the provider's clock
            await Task.Delay(5);
        }

        gate.SetResult();
        for (int i = 0; i < 40 && !tokens.All(t => t.IsCompleted); i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(50));
            await Task.Delay(5);
        }

        M3terToken[] all = await Task.WhenAll(tokens);
        Assert.All(all, t => Assert.Equal("token-1", t.AccessToken));
        Assert.Equal(1, client.Calls);
        Array.ForEach(fleet, p => p.Dispose());
    }

    [Fact]
    public async Task LeaseHolderNeverDelivers_TheWaiterFetchesItselfAfterLeaseWaitTimeout()
    {
        _cache.LeaseHeldElsewhere = true;
        using TokenProvider provider = Provider();

        Task<M3terToken> waiting = provider.GetTokenAsync().AsTask();
        await TestWait.UntilAsync(() => _cache.LeaseRefusals == 1);
        Assert.False(waiting.IsCompleted);
        await PollUntilDoneAsync(waiting);

        Assert.Equal("token-1", (await waiting).AccessToken);
        Assert.Equal(1, _client.Calls);
        Assert.Equal("token-1", _cache.Stored!.AccessToken); // shared for the others
    }

    [Fact]
    public async Task LeaseHolderGivesUpWithoutAToken_TheWaiterTakesTheLeaseOver_WithoutWaitingOutTheTimeout()
    {
        _cache.LeaseHeldElsewhere = true;
        using TokenProvider provider = Provider();
        Task<M3terToken> waiting = provider.GetTokenAsync().AsTask();
        await TestWait.UntilAsync(() => _cache.LeaseRefusals == 1);

        _cache.LeaseHeldElsewhere = false; // the holder's token request failed, and it released the lease
        TimeSpan waited = await PollUntilDoneAsync(waiting);

        Assert.Equal("token-1", (await waiting).AccessToken);
        Assert.True(waited < TimeSpan.FromSeconds(1), $"waited {waited} of the 3 s LeaseWaitTimeout");
        Assert.Equal("token-1", _cache.Stored!.AccessToken); // requested under the lease, and shared
    }

    [Fact]
    public async Task SharedCacheBecomesUnavailable_WhileWaitingForTheLease_TheWaiterStopsWaiting()
    {
        _cache.LeaseHeldElsewhere = true;
        using TokenProvider provider = Provider();
        Task<M3terToken> waiting = provider.GetTokenAsync().AsTask();
        await TestWait.UntilAsync(() => _cache.LeaseRefusals == 1);

        _cache.Unavailable = "Redis is unavailable (test)"; // nobody's token can arrive through it now
        TimeSpan waited = await PollUntilDoneAsync(waiting);

        Assert.Equal("token-1", (await waiting).AccessToken);
        Assert.True(waited < TimeSpan.FromSeconds(1), $"waited {waited} of the 3 s LeaseWaitTimeout");
    }

    [Fact]
    public async Task SeveralRefusedTokens_NoneIsAdoptedAgain_EvenIfTheSharedCacheStillHoldsAnOlderOne()
    {
        using TokenProvider provider = Provider();
        _cache.FailRemovals = true; // the store never lets go of the first refused token
        M3terToken first = await provider.GetTokenAsync();
        provider.Invalidate(first);
        M3terToken second = await provider.GetTokenAsync(); // not newer than the stored one, so the store keeps `first`
        Assert.Equal(first.AccessToken, _cache.Stored!.AccessToken);

        provider.Invalidate(second);
        M3terToken third = await provider.GetTokenAsync();

        Assert.NotEqual(first.AccessToken, third.AccessToken);
        Assert.NotEqual(second.AccessToken, third.AccessToken);
        Assert.Equal(3, _client.Calls);
        Assert.Equal(2, _cache.Calls.Count(c => c == "remove")); // each refused token removed once, compare-and-delete
    }

    [Fact]
    public async Task BackgroundRefresh_AdoptsANewerSharedToken_InsteadOfRequestingOne()
    {
        using TokenProvider provider = Provider();
        await provider.GetTokenAsync();
        _time.Advance(TimeSpan.FromMinutes(30));
        var newer = new M3terToken("from-another-process", "Bearer", _time.GetUtcNow() + TimeSpan.FromHours(5), _time.GetUtcNow());
        _cache.Stored = newer;

        _time.Advance(TimeSpan.FromHours(5) - TimeSpan.FromMinutes(35)); // the refresh falls due

        await TestWait.UntilAsync(() => provider.Status().CachedToken?.AccessToken == "from-another-process");
        Assert.Equal(1, _client.Calls);
    }

    [Fact]
    public async Task BackgroundRefresh_LeaseHeldElsewhere_DoesNotWait_KeepsServing_AndAdoptsTheHoldersTokenLater()
    {
        using TokenProvider provider = Provider();
        M3terToken first = await provider.GetTokenAsync();
        _cache.LeaseHeldElsewhere = true;
        _cache.Calls.Clear();

        _time.Advance(TimeSpan.FromHours(5) - TimeSpan.FromMinutes(5)); // due: read (nothing newer), lease (taken)
        await TestWait.UntilAsync(() => !provider.Status().IsFetching && provider.Status().RefreshAt > _time.GetUtcNow());
        Assert.Same(first, await provider.GetTokenAsync());
        Assert.Equal(new[] { "read", "lease" }, _cache.Calls); // a refresh never waits (polls) for another process's lease
        Assert.Equal(0, provider.Status().RefreshFailures); // and that is not a failure

        var newer = new M3terToken("holders-token", "Bearer", _time.GetUtcNow() + TimeSpan.FromHours(5), _time.GetUtcNow());
        _cache.Stored = newer;
        _time.Advance(provider.Status().RefreshAt!.Value - _time.GetUtcNow());

        await TestWait.UntilAsync(() => provider.Status().CachedToken?.AccessToken == "holders-token");
        Assert.Equal(1, _client.Calls);
    }

    [Fact]
    public async Task RefusedToken_IsRemovedFromTheSharedCacheIfStillThere_AndNeverAdoptedAgain()
    {
        using TokenProvider provider = Provider();
        M3terToken refused = await provider.GetTokenAsync();
        _cache.FailRemovals = true; // even if the removal cannot reach the store, the refused token is not adopted

        provider.Invalidate(refused);
        M3terToken fresh = await provider.GetTokenAsync();

        Assert.NotEqual(refused.AccessToken, fresh.AccessToken);
        Assert.Contains("remove", _cache.Calls);
        Assert.Equal(2, _client.Calls);
    }

    [Fact]
    public async Task RefusedToken_ConcurrentRemovalIsCompareAndDelete_ANewerTokenIsKept()
    {
        using TokenProvider a = Provider();
        using TokenProvider b = Provider(new FakeTokenClient(_time));
        M3terToken old = await a.GetTokenAsync();
        await b.GetTokenAsync(); // adopted
        var newer = new M3terToken("newer", "Bearer", _time.GetUtcNow() + TimeSpan.FromHours(6), _time.GetUtcNow());
        _cache.Stored = newer; // someone already replaced it

        b.Invalidate(b.Status().CachedToken!);
        M3terToken next = await b.GetTokenAsync();

        Assert.Equal("newer", next.AccessToken); // the removal of `old` did not delete `newer`
        Assert.Equal("newer", _cache.Stored!.AccessToken);
        Assert.NotEqual(old.AccessToken, next.AccessToken);
    }

    [Fact]
    public async Task PreIssuedToken_NeverGoesToTheSharedCache()
    {
        var options = new M3terAuthOptions { AccessToken = "pre-issued-token" };
        using var provider = new TokenProvider(new TokenClient(new System.Net.Http.HttpClient(), options, _time), options, _time, null, _cache);

        await provider.GetTokenAsync();
        provider.Invalidate(provider.Status().CachedToken!);
        await provider.GetTokenAsync();

        Assert.Empty(_cache.Calls);
    }

    [Fact]
    public async Task ACacheThatThrows_IsAMiss_NeverTheCallersFailure()
    {
        using TokenProvider provider = Provider(cache: new ThrowingCache());

        M3terToken token = await provider.GetTokenAsync();

        Assert.Equal("token-1", token.AccessToken);
    }

    [Fact]
    public async Task ExpiringSharedToken_IsNotAdopted()
    {
        _cache.Stored = new M3terToken("nearly-gone", "Bearer", _time.GetUtcNow() + TimeSpan.FromMilliseconds(500), _time.GetUtcNow() - TimeSpan.FromHours(5));
        using TokenProvider provider = Provider();

        M3terToken token = await provider.GetTokenAsync();

        Assert.Equal("token-1", token.AccessToken);
    }

    private sealed class ThrowingCache : ISharedTokenCache
    {
        public TimeSpan LeaseWaitTimeout => TimeSpan.FromSeconds(1);

        public string? Unavailable => null;

        public ValueTask<M3terToken?> ReadAsync(SharedTokenScope scope, CancellationToken cancellationToken = default) => throw new InvalidOperationException("store down");

        public ValueTask<bool> TryAcquireLeaseAsync(SharedTokenScope scope, CancellationToken cancellationToken = default) => throw new InvalidOperationException("store down");

        public ValueTask ReleaseLeaseAsync(SharedTokenScope scope, CancellationToken cancellationToken = default) => throw new InvalidOperationException("store down");

        public ValueTask WriteIfNewerAsync(SharedTokenScope scope, M3terToken token, CancellationToken cancellationToken = default) => throw new InvalidOperationException("store down");

        public ValueTask RemoveIfHoldsAsync(SharedTokenScope scope, M3terToken token, CancellationToken cancellationToken = default) => throw new InvalidOperationException("store down");
    }
}
