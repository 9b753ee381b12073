using System;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http;

namespace M3ter.Auth.Internal;

/// <summary>
/// Keeps credentials out of IHttpClientFactory's own request logging. Its logging handlers write every request header
/// at Trace level, and on the 8.0 line of Microsoft.Extensions.Http nothing is redacted by default; the handler that
/// writes them runs after ours, so it would see the bearer token. This adds the credential headers to whatever the
/// client already redacts (post-configured, so a later <c>RedactLoggedHeaders</c> call cannot undo it).
/// </summary>
internal static class HeaderRedaction
{
    public static void RedactCredentials(IServiceCollection services, string clientName) =>
        services.PostConfigure<HttpClientFactoryOptions>(clientName, static options =>
        {
            // Once per client, however often a client is wrapped (AddM3terAuthHandler twice): no chain of checks.
            if (options.ShouldRedactHeaderValue.Target is not CredentialsFirst)
            {
                options.ShouldRedactHeaderValue = new CredentialsFirst(options.ShouldRedactHeaderValue).ShouldRedact;
            }
        });

    public static bool IsCredential(string header) =>
        string.Equals(header, "Authorization", StringComparison.OrdinalIgnoreCase)
        || string.Equals(header, "Proxy-Authorization", StringComparison.OrdinalIgnoreCase);

    /// <summary>The credential headers, then whatever the client redacted before.</summary>
    private sealed class CredentialsFirst(Func<string, bool> previous)
    {
        public bool ShouldRedact(string header) => IsCredential(header) || previous(header);
    }
}
