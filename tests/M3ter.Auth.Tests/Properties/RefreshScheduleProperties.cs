using System;
using System.Threading.Tasks;
using CsCheck;
using M3ter.Auth.Internal;
using Xunit.Abstractions;

namespace M3ter.Auth.Tests.Properties;

/// <summary>
/// When a token is refreshed, for any lifetime, any RefreshBeforeExpiry, any lateness of the response and any jitter:
/// never after it expires, never before it was fetched (nor sooner than halfway through what it has left), about
/// RefreshBeforeExpiry early for a long token, and halfway through a token too short for that.
/// </summary>
public sealed class RefreshScheduleProperties(ITestOutputHelper output)
{
    private static readonly Gen<Case> Cases =
        Gen.Select(
            Gen.Long[TimeSpan.FromSeconds(1).Ticks, TimeSpan.FromDays(1).Ticks],
            Gen.Long[0, TimeSpan.FromDays(1).Ticks],
            Gen.Double[0, 0.99],
            Gen.Double.Unit,
            (lifetime, before, late, random) => new Case(TimeSpan.FromTicks(lifetime), TimeSpan.FromTicks(before), late, random));

    [Fact]
    public void RefreshAt_IsNeverAfterExpiry_NorBeforeHalfOfWhatIsLeft() =>
        Cases.Run(c =>
        {
            (DateTimeOffset now, M3terToken token, DateTimeOffset refreshAt) = Schedule(c);

            Assert.True(refreshAt <= token.ExpiresAt, $"refresh at {refreshAt:O}, after expiry {token.ExpiresAt:O}");
            Assert.True(refreshAt >= now + ((token.ExpiresAt - now) / 2) - TimeSpan.FromTicks(1), $"refresh at {refreshAt:O}, sooner than halfway through what is left after {now:O}");
            Assert.True(refreshAt >= token.IssuedAt, "refresh before the token was issued");
        }, output, PropertyRuns.Some, Print);

    [Fact]
    public void ATokenWithTwiceRefreshBeforeExpiryLeft_IsRefreshedThatEarly_PlusAtMostTenPercent() =>
        Cases.Select(c => c with { Lifetime = Max(c.Lifetime, TimeSpan.FromTicks((long)Math.Ceiling(c.RefreshBeforeExpiry.Ticks * 2 / (1 - c.Late)))) })
            .Run(c =>
            {
                (_, M3terToken token, DateTimeOffset refreshAt) = Schedule(c);
                TimeSpan early = token.ExpiresAt - refreshAt;

                Assert.InRange(early, c.RefreshBeforeExpiry - TimeSpan.FromTicks(1), (c.RefreshBeforeExpiry * 1.1) + TimeSpan.FromTicks(1));
            }, output, PropertyRuns.Some, Print);

    [Fact]
    public void AShortTokenFetchedFresh_IsRefreshedHalfway() =>
        Cases.Select(c => c with { Late = 0, RefreshBeforeExpiry = Max(c.RefreshBeforeExpiry, (c.Lifetime / 2) + TimeSpan.FromTicks(1)) })
            .Run(c =>
            {
                (DateTimeOffset now, M3terToken token, DateTimeOffset refreshAt) = Schedule(c);

                Assert.InRange(refreshAt - now, (c.Lifetime / 2) - TimeSpan.FromTicks(1), (c.Lifetime / 2) + TimeSpan.FromTicks(1));
                Assert.True(refreshAt < token.ExpiresAt);
            }, output, PropertyRuns.Some, Print);

    private static (DateTimeOffset Now, M3terToken Token, DateTimeOffset RefreshAt) Schedule(Case c)
    {
        var clock = TestOptions.Clock();
        DateTimeOffset now = clock.GetUtcNow();
        DateTimeOffset issued = now - (c.Lifetime * c.Late);
        var token = new M3terToken("token", "Bearer", issued + c.Lifetime, issued);
        var client = new FakeTokenClient(clock) { Behaviour = _ => Task.FromResult(token) };
        using var provider = new TokenProvider(client, TestOptions.Create(o => o.RefreshBeforeExpiry = c.RefreshBeforeExpiry), clock) { Random = () => c.Random };

        M3terToken served = provider.GetTokenAsync().AsTask().GetAwaiter().GetResult();

        Assert.Same(token, served);
        return (now, token, provider.Status().RefreshAt ?? throw new InvalidOperationException("no refresh scheduled"));
    }

    private static TimeSpan Max(TimeSpan a, TimeSpan b) => a > b ? a : b;

    private static string Print(Case c) => c.ToString();

    internal sealed record Case(TimeSpan Lifetime, TimeSpan RefreshBeforeExpiry, double Late, double Random);
}
