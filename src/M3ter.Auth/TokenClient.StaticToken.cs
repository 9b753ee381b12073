using System.Globalization;
using System.Threading.Tasks;
using M3ter.Auth.Internal;

namespace M3ter.Auth;

// A pre-issued token (AccessToken / M3TER_API_TOKEN): served until it expires, never requested.
public sealed partial class TokenClient
{
    private Task<M3terToken> StaticToken(M3terToken token)
    {
        if (_timeProvider.GetUtcNow() < token.ExpiresAt)
        {
            return Task.FromResult(token);
        }

        var expired = new M3terAuthException(string.Format(
            CultureInfo.InvariantCulture,
            "The pre-issued m3ter access token (M3ter:AccessToken or M3TER_API_TOKEN) expired at {0:O}: issue a new one, or set AccessKeyId and ApiSecret instead so tokens are fetched and refreshed automatically.",
            token.ExpiresAt)) { IsPermanent = true };
        Log.TokenRequestFailed(_logger, expired.Message);
        return Task.FromException<M3terToken>(expired);
    }
}
