using System;
using System.Linq;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using M3ter.Auth.Internal;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Time.Testing;

namespace M3ter.Auth.Tests.Internal;

/// <summary>The fleet's lease protocol on its own, against an in-memory shared cache; through a provider in <c>SharedTokenCacheTests</c>.</summary>
public sealed class FleetCoordinatorTests
{
    private readonly FakeTimeProvider _time = TestOptions.Clock();
    private readonly FakeTokenClient _client;
    private readonly Member _member = new();

    public FleetCoordinatorTests() => _client = new FakeTokenClient(_time);

    [Fact]
    public async Task AUsableSharedToken_IsAdopted_WithoutARequestOrTheLease()
    {
        var cache = new InMemorySharedCache { Stored = Token("shared", TimeSpan.FromHours(1)) };

        M3terToken? token = await Coordinator(cache).ObtainAsync(current: null, CancellationToken.None);

        Assert.Equal("shared", token?.AccessToken);
        Assert.Equal(0, _client.Calls);
        Assert.DoesNotContain("lease", cache.Calls);
    }

    [Fact]
    public async Task WithNothingShared_TheLeaseHolderRequestsSharesAndReleases()
    {
        var cache = new InMemorySharedCache();

        M3terToken? token = await Coordinator(cache).ObtainAsync(current: null, CancellationToken.None);

        Assert.Equal("token-1", token?.AccessToken);
        Assert.Same(token, cache.Stored);
        Assert.Equal(new[] { "read", "lease", "read", "write", "release" }, cache.Calls.ToArray());
    }

    [Fact]
    public async Task ARefresh_WhileAnotherProcessHoldsTheLease_LooksAgainLater_InsteadOfWaiting()
    {
        var cache = new InMemorySharedCache { LeaseHeldElsewhere = true };
        M3terToken current = Token("current", TimeSpan.FromMinutes(4));
        _member.Served = current;

        M3terToken? token = await Coordinator(cache).ObtainAsync(current, CancellationToken.None);

        Assert.Null(token);
        Assert.Equal(0, _client.Calls);
    }

    [Fact]
    public async Task ARefresh_OfATokenNoLongerServed_WaitsForTheHolderLikeAColdStart()
    {
        var cache = new InMemorySharedCache { LeaseHeldElsewhere = true };
        Task<M3terToken?> obtaining = Coordinator(cache).ObtainAsync(Token("refused-meanwhile", TimeSpan.FromMinutes(4)), CancellationToken.None);

        await AdvanceUntilAsync(obtaining, () => cache.Stored = Token("the-holders", TimeSpan.FromHours(1)));

        Assert.Equal("the-holders", (await obtaining)?.AccessToken);
        Assert.Equal(0, _client.Calls);
    }

    [Fact]
    public async Task AColdStart_WaitsForTheHoldersToken()
    {
        var cache = new InMemorySharedCache { LeaseHeldElsewhere = true };
        Task<M3terToken?> obtaining = Coordinator(cache).ObtainAsync(current: null, CancellationToken.None);

        await AdvanceUntilAsync(obtaining, () => cache.Stored = Token("the-holders", TimeSpan.FromHours(1)));

        Assert.Equal("the-holders", (await obtaining)?.AccessToken);
        Assert.Equal(0, _client.Calls);
    }

    [Fact]
    public async Task AHolderThatNeverDelivers_IsWaitedForAtMostTheLeaseWaitTimeout()
    {
        var cache = new InMemorySharedCache { LeaseHeldElsewhere = true };
        DateTimeOffset start = _time.GetUtcNow();
        Task<M3terToken?> obtaining = Coordinator(cache).ObtainAsync(current: null, CancellationToken.None);

        await AdvanceUntilAsync(obtaining, () => { });

        Assert.Equal("token-1", (await obtaining)?.AccessToken);
        Assert.True(_time.GetUtcNow() - start >= cache.LeaseWaitTimeout, "gave up before LeaseWaitTimeout");

        // Polls are 50 ms apart (the jitter is pinned to the middle), so waiting at most LeaseWaitTimeout means at most
        // that many polls. (Counted, not timed: the fake clock may run ahead of a coordinator the machine starves.)
        Assert.InRange(_member.Draws, 1, (int)(cache.LeaseWaitTimeout.Ticks / TimeSpan.FromMilliseconds(50).Ticks) + 1);
    }

    [Fact]
    public async Task AnUnavailableStoresGoAhead_DuringARefreshWithTimeLeft_DefersAndReleasesTheLease()
    {
        var cache = new InMemorySharedCache { Unavailable = "Redis is slow" };
        M3terToken current = Token("current", TimeSpan.FromHours(1));
        _member.Served = current;

        M3terToken? token = await Coordinator(cache).ObtainAsync(current, CancellationToken.None);

        Assert.Null(token);
        Assert.Equal(0, _client.Calls);
        Assert.Equal("release", cache.Calls.Last());
    }

    [Fact]
    public async Task AnUnavailableStoresGoAhead_CloseToExpiry_Fetches()
    {
        var cache = new InMemorySharedCache { Unavailable = "Redis is slow" };
        M3terToken current = Token("current", TimeSpan.FromMinutes(1)); // less than half of the 5-minute window left
        _member.Served = current;

        M3terToken? token = await Coordinator(cache).ObtainAsync(current, CancellationToken.None);

        Assert.Equal("token-1", token?.AccessToken);
    }

    [Fact]
    public async Task ARefusedToken_IsRemovedFromTheSharedCache_AndNeverAdopted()
    {
        M3terToken refused = Token("refused", TimeSpan.FromHours(1));
        var cache = new InMemorySharedCache { Stored = refused };
        FleetCoordinator coordinator = Coordinator(cache);
        coordinator.Refuse(refused);

        M3terToken? token = await coordinator.ObtainAsync(current: null, CancellationToken.None);

        Assert.Equal("token-1", token?.AccessToken);
        Assert.Equal("remove", cache.Calls.First());
    }

    [Fact]
    public async Task AWaitingProcess_FailsWithTheFleetsRefusal_WithoutAsking()
    {
        var cache = new InMemoryRejectionSharingCache(_time) { LeaseHeldElsewhere = true };
        Task<M3terToken?> obtaining = Coordinator(cache).ObtainAsync(current: null, CancellationToken.None);

        await AdvanceUntilAsync(obtaining, () => cache.Rejection = new SharedRejection(HttpStatusCode.Unauthorized, "invalid_client", _time.GetUtcNow(), _time.GetUtcNow().AddMinutes(1)));

        var refusal = await Assert.ThrowsAsync<M3terAuthException>(() => obtaining);
        Assert.Equal(HttpStatusCode.Unauthorized, refusal.StatusCode);
        Assert.Contains("another process", refusal.Message, StringComparison.Ordinal);
        Assert.DoesNotContain(TestOptions.Secret, refusal.Message, StringComparison.Ordinal);
        Assert.Equal(0, _client.Calls);
    }

    [Fact]
    public async Task TheHoldersRefusal_IsSharedBeforeTheLeaseIsReleased()
    {
        var cache = new InMemoryRejectionSharingCache(_time);
        _client.Behaviour = _ => Task.FromException<M3terToken>(new M3terAuthException("refused", HttpStatusCode.Unauthorized, "invalid_client", errorDescription: null));

        await Assert.ThrowsAsync<M3terAuthException>(() => Coordinator(cache).ObtainAsync(current: null, CancellationToken.None));

        string[] calls = cache.Calls.ToArray();
        Assert.True(Array.IndexOf(calls, "write_rejection") < Array.LastIndexOf(calls, "release"), string.Join(", ", calls));
        Assert.NotNull(cache.Rejection);
    }

    private FleetCoordinator Coordinator(ISharedTokenCache cache) =>
        new(cache, _client, TestOptions.Create(), _time, NullLogger.Instance, _member, CancellationToken.None);

    private M3terToken Token(string value, TimeSpan left) => new(value, "Bearer", _time.GetUtcNow() + left, _time.GetUtcNow() + left - TimeSpan.FromHours(5));

    /// <summary>Moves the fake clock on in poll-sized steps until <paramref name="task"/> ends; <paramref name="meanwhile"/> runs after the first step.</summary>
    private async Task AdvanceUntilAsync(Task task, Action meanwhile)
    {
        for (int step = 0; step < 1_000 && !task.IsCompleted; step++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(25));
            if (step == 0)
            {
                meanwhile();
            }

            await Task.Delay(1);
        }

        Assert.True(task.IsCompleted, "the coordinator did not finish");
    }

    private sealed class Member : IFleetMember
    {
        private int _draws;

        public M3terToken? Served { get; set; }

        public long NewestIssuedTicks => 0;

        public bool Serves(M3terToken token) => ReferenceEquals(Served, token);

        public int Draws => Volatile.Read(ref _draws);

        public double NextJitter()
        {
            Interlocked.Increment(ref _draws);
            return 0.5;
        }
    }
}
