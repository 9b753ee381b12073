using System;
using System.Linq;
using System.Net;
using System.Threading;
using System.Threading.Tasks;
using Microsoft.Extensions.Time.Testing;

namespace M3ter.Auth.Tests;

/// <summary>
/// A refusal of the credentials travels through an <see cref="ISharedRejectionCache"/> as a token does: the process
/// that was refused says so before it releases the lease, and the processes waiting for it (or starting cold) fail at
/// once instead of taking the lease one after another and each being refused in turn.
/// </summary>
public sealed class SharedRejectionTests
{
    private readonly FakeTimeProvider _time = TestOptions.Clock();
    private readonly InMemoryRejectionSharingCache _cache;

    public SharedRejectionTests()
    {
        _cache = new InMemoryRejectionSharingCache(_time);
    }

    private static FakeTokenClient Refusing(TimeProvider time, TaskCompletionSource? gate = null) => new(time)
    {
        Gate = gate,
        Behaviour = _ => Task.FromException<M3terToken>(new M3terAuthException("m3ter rejected the credentials (test)", HttpStatusCode.Unauthorized, "invalid_client", "Bad credentials " + TestOptions.KeyId)),
    };

    private TokenProvider Provider(ITokenClient client, Action<M3terAuthOptions>? configure = null) =>
        new(client, TestOptions.Create(configure), _time, null, _cache) { Random = () => 0 };

    [Fact]
    public async Task TheHoldersRefusal_FailsTheWaiters_AtTheirNextPoll_WithoutATokenRequestOfTheirOwn()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        FakeTokenClient holderClient = Refusing(_time, gate);
        var waiterClient = new FakeTokenClient(_time);
        using TokenProvider holder = Provider(holderClient);
        TokenProvider[] waiters = Enumerable.Range(0, 5).Select(_ => Provider(waiterClient)).ToArray();

        Task<M3terToken> holding = holder.GetTokenAsync().AsTask();
        await TestWait.UntilAsync(() => holderClient.Calls == 1);
        Task<M3terToken>[] waiting = waiters.Select(w => w.GetTokenAsync().AsTask()).ToArray();
        await TestWait.UntilAsync(() => _cache.LeaseRefusals == 5);
        for (int i = 0; i < 4; i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(50)); // they poll while the holder's request runs
            await Task.Delay(5);
        }

        Assert.All(waiting, w => Assert.False(w.IsCompleted));
        gate.SetResult(); // m3ter refuses the holder
        await Assert.ThrowsAsync<M3terAuthException>(() => holding);

        TimeSpan waited = TimeSpan.Zero;
        for (int i = 0; i < 100 && !waiting.All(w => w.IsCompleted); i++)
        {
            _time.Advance(TimeSpan.FromMilliseconds(50));
            waited += TimeSpan.FromMilliseconds(50);
            await Task.Delay(2);
        }

        foreach (Task<M3terToken> w in waiting)
        {
            M3terAuthException refused = await Assert.ThrowsAsync<M3terAuthException>(() => w);
            Assert.True(refused.IsCredentialRejection);
            Assert.Equal(HttpStatusCode.Unauthorized, refused.StatusCode);
            Assert.Equal("invalid_client", refused.Error);
            Assert.Contains("another process sharing the token cache", refused.Message, StringComparison.Ordinal);
            Assert.DoesNotContain(TestOptions.Secret, refused.ToString(), StringComparison.Ordinal);
        }

        Assert.True(waited <= TimeSpan.FromMilliseconds(150), $"the waiters took {waited} after the refusal"); // a poll or two (jittered 25–75 ms), not a lease each in turn
        Assert.Equal(0, waiterClient.Calls);
        Array.ForEach(waiters, w => w.Dispose());
    }

    [Fact]
    public async Task AColdProcess_AfterTheFleetWasRefused_FailsWithoutAsking_AndThenRemembersItItself()
    {
        using (TokenProvider first = Provider(Refusing(_time)))
        {
            await Assert.ThrowsAsync<M3terAuthException>(() => first.GetTokenAsync().AsTask());
        }

        Assert.Contains("write_rejection", _cache.Calls);
        Assert.True(_cache.Calls.ToList().IndexOf("write_rejection") < _cache.Calls.ToList().LastIndexOf("release"), "said before the lease is released");
        while (_cache.Calls.TryDequeue(out _))
        {
        }

        var client = new FakeTokenClient(_time);
        using TokenProvider cold = Provider(client);
        M3terAuthException refused = await Assert.ThrowsAsync<M3terAuthException>(() => cold.GetTokenAsync().AsTask());

        Assert.True(refused.IsCredentialRejection);
        Assert.Equal(new[] { "read", "lease", "read", "read_rejection", "release" }, _cache.Calls);
        Assert.Equal(0, client.Calls);

        // Remembered as its own refusal: the next call asks neither m3ter nor the cache.
        int calls = _cache.Calls.Count;
        await Assert.ThrowsAsync<M3terAuthException>(() => cold.GetTokenAsync().AsTask());
        Assert.Equal(calls, _cache.Calls.Count);
        Assert.Equal(0, client.Calls);
    }

    [Fact]
    public async Task TheSharedRefusal_EndsWithTheRefusingProcessesMemoryOfIt()
    {
        using (TokenProvider first = Provider(Refusing(_time), o => o.RejectedCredentialsCacheDuration = TimeSpan.FromSeconds(20)))
        {
            await Assert.ThrowsAsync<M3terAuthException>(() => first.GetTokenAsync().AsTask());
        }

        Assert.Equal(_time.GetUtcNow() + TimeSpan.FromSeconds(20), _cache.Rejection!.Until);
        _time.Advance(TimeSpan.FromSeconds(21));
        var client = new FakeTokenClient(_time);
        using TokenProvider later = Provider(client);

        Assert.Equal("token-1", (await later.GetTokenAsync()).AccessToken); // asked m3ter again, and the key works now
        Assert.Equal(1, client.Calls);
        Assert.Null(_cache.Rejection); // a written token ends a refusal
    }

    [Fact]
    public async Task ARefusalMadeBeforeATokenTheProviderServed_IsOver_AndDoesNotBlockIt()
    {
        // Process A was refused just before the key was re-enabled, and its slow write of the refusal arrived after
        // process B had shared a token: once that token runs out, the refusal must not stop this process asking.
        DateTimeOffset now = _time.GetUtcNow();
        _cache.Stored = new M3terToken("fleet-token-issued-after-the-refusal", "Bearer", now.AddMinutes(10), now);
        _cache.Rejection = new SharedRejection(HttpStatusCode.Unauthorized, "invalid_client", now.AddSeconds(-5), now.AddHours(1));
        var client = new FakeTokenClient(_time);
        using TokenProvider provider = Provider(client, o => o.RejectedCredentialsCacheDuration = TimeSpan.FromHours(1));
        Assert.Equal("fleet-token-issued-after-the-refusal", (await provider.GetTokenAsync()).AccessToken);

        _time.Advance(TimeSpan.FromMinutes(11));
        M3terToken next = await provider.GetTokenAsync();

        Assert.Equal("token-1", next.AccessToken);
        Assert.Equal(1, client.Calls);
    }

    [Fact]
    public async Task NothingIsShared_WhenRejectionsAreNotRemembered()
    {
        using TokenProvider first = Provider(Refusing(_time), o => o.RejectedCredentialsCacheDuration = TimeSpan.Zero);

        await Assert.ThrowsAsync<M3terAuthException>(() => first.GetTokenAsync().AsTask());

        Assert.DoesNotContain("write_rejection", _cache.Calls);
    }

    [Fact]
    public async Task ATransientFailure_IsNotShared()
    {
        var client = new FakeTokenClient(_time) { Behaviour = _ => Task.FromException<M3terToken>(new M3terAuthException("m3ter answered 503 (test)", HttpStatusCode.ServiceUnavailable, null, null)) };
        using TokenProvider first = Provider(client);

        await Assert.ThrowsAsync<M3terAuthException>(() => first.GetTokenAsync().AsTask());

        Assert.DoesNotContain("write_rejection", _cache.Calls);
    }

    [Fact]
    public void ARejection_KeepsOnlyWhatAnErrorCodeMayHold()
    {
        DateTimeOffset now = _time.GetUtcNow();

        Assert.Equal("invalid_client", new SharedRejection(HttpStatusCode.Unauthorized, "invalid_client\r\nBasic dGVzdA==", now, now).Error?[..14]);
        Assert.DoesNotContain(" ", new SharedRejection(HttpStatusCode.Unauthorized, "invalid client: Basic dGVzdA==", now, now).Error, StringComparison.Ordinal);
        Assert.Equal(64, new SharedRejection(HttpStatusCode.Unauthorized, new string('x', 1000), now, now).Error!.Length);
        Assert.Null(new SharedRejection(HttpStatusCode.Unauthorized, " \r\n", now, now).Error);
        Assert.Throws<ArgumentOutOfRangeException>(() => new SharedRejection(HttpStatusCode.Unauthorized, null, now, now.AddSeconds(-1)));
    }
}
