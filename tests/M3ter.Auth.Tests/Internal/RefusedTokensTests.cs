using System;
using System.Linq;
using M3ter.Auth.Internal;

namespace M3ter.Auth.Tests.Internal;

public sealed class RefusedTokensTests
{
    private static M3terToken Token(int n) => new("refused-" + n, "Bearer", DateTimeOffset.UnixEpoch.AddHours(5));

    [Fact]
    public void ARefusedToken_IsRemembered_AndItsRemovalQueuedOnce()
    {
        var refused = new RefusedTokens();
        M3terToken token = Token(1);

        refused.Add(token);
        refused.Add(token); // refused again: still one removal

        Assert.True(refused.Contains("refused-1"));
        Assert.Equal(new[] { token }, refused.TakePending());
        Assert.Empty(refused.TakePending()); // taken: the caller removes it
        Assert.True(refused.Contains("refused-1")); // and it is still never adopted
    }

    [Fact]
    public void OnlyTheMostRecentSixteen_AreKept()
    {
        var refused = new RefusedTokens();
        for (int n = 1; n <= 20; n++)
        {
            refused.Add(Token(n));
        }

        Assert.False(refused.Contains("refused-4"));
        Assert.True(refused.Contains("refused-5"));
        Assert.True(refused.Contains("refused-20"));
        Assert.Equal(Enumerable.Range(5, 16).Select(n => "refused-" + n), refused.TakePending().Select(t => t.AccessToken));
    }
}
