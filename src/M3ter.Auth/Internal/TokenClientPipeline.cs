using System;
using System.Net.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Http;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;

namespace M3ter.Auth.Internal;

/// <summary>
/// Keeps the token client's pipeline M3ter.Auth's own. <c>ConfigureHttpClientDefaults</c> applies to every client,
/// the token client included, and .NET Aspire's service defaults add the standard resilience handler there. Nested
/// inside the token client's own retries, its retries multiply token requests (4 attempts of 3 each against a failing
/// endpoint), its 2-second back-off runs inside <see cref="M3terAuthOptions.TokenRequestTimeout"/>, and its circuit
/// breaker turns a transient failure into a permanent-looking one. So, after every other configuration (this is a
/// post-configure step), resilience handlers and the auth handler itself are removed from the token client only.
/// Other handlers (proxies, logging, test doubles) stay.
/// </summary>
internal sealed class TokenClientPipeline : IPostConfigureOptions<HttpClientFactoryOptions>
{
    /// <summary>The handler type of Microsoft.Extensions.Http.Resilience (matched by name: the core does not depend on it).</summary>
    private const string ResilienceHandlerType = "Microsoft.Extensions.Http.Resilience.ResilienceHandler";

    public void PostConfigure(string? name, HttpClientFactoryOptions options)
    {
        if (string.Equals(name, TokenClient.HttpClientName, StringComparison.Ordinal))
        {
            options.HttpMessageHandlerBuilderActions.Add(RemoveForeignHandlers);
        }
    }

    private static void RemoveForeignHandlers(HttpMessageHandlerBuilder builder)
    {
        ILogger? logger = null;
        for (int i = builder.AdditionalHandlers.Count - 1; i >= 0; i--)
        {
            DelegatingHandler handler = builder.AdditionalHandlers[i];
            if (handler is M3terAuthHandler || IsResilienceHandler(handler.GetType()))
            {
                builder.AdditionalHandlers.RemoveAt(i);
                handler.Dispose();
                logger ??= builder.Services.GetService<ILoggerFactory>()?.CreateLogger<TokenClient>();
                if (logger is not null)
                {
                    Log.TokenClientHandlerRemoved(logger, handler.GetType().Name);
                }
            }
        }
    }

    private static bool IsResilienceHandler(Type? type)
    {
        for (; type is not null && type != typeof(DelegatingHandler); type = type.BaseType)
        {
            if (string.Equals(type.FullName, ResilienceHandlerType, StringComparison.Ordinal))
            {
                return true;
            }
        }

        return false;
    }
}
