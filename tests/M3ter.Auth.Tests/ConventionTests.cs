using System;
using System.Linq;
using System.Reflection;
using System.Threading;
using System.Threading.Tasks;

namespace M3ter.Auth.Tests;

/// <summary>House rules for the public surface of each of the three packages, checked rather than remembered (after Duende's convention tests).</summary>
public sealed class ConventionTests
{
    private static readonly Type[] CoreTypes = typeof(TokenProvider).Assembly.GetExportedTypes();

    public static TheoryData<string> Packages => new() { "M3ter.Auth", "M3ter.Auth.StackExchangeRedis", "M3ter.Auth.Testing" };

    private static Type[] PublicTypesOf(string package) => package switch
    {
        "M3ter.Auth" => CoreTypes,
        "M3ter.Auth.StackExchangeRedis" => typeof(M3ter.Auth.StackExchangeRedis.M3terRedisTokenCache).Assembly.GetExportedTypes(),
        "M3ter.Auth.Testing" => typeof(M3ter.Auth.Testing.M3terEmulator).Assembly.GetExportedTypes(),
        _ => throw new ArgumentOutOfRangeException(nameof(package), package, null),
    };

    [Theory]
    [MemberData(nameof(Packages))]
    public void PublicTypes_AreSealedStaticInterfacesEnumsOrExceptions(string package)
    {
        Type[] publicTypes = PublicTypesOf(package);
        Type[] offenders = publicTypes
            .Where(t => t.IsClass && !t.IsSealed && !(t.IsAbstract && t.IsSealed) && !typeof(Exception).IsAssignableFrom(t))
            .ToArray();

        Assert.Empty(offenders);
        Assert.NotEmpty(publicTypes);
    }

    [Theory]
    [MemberData(nameof(Packages))]
    public void AsyncMethods_EndInAsyncAndTakeCancellationTokenLast(string package)
    {
        var asyncMethods = PublicTypesOf(package)
            .SelectMany(t => t.GetMethods(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .Where(m => typeof(Task).IsAssignableFrom(m.ReturnType) || (m.ReturnType.IsGenericType && m.ReturnType.GetGenericTypeDefinition() == typeof(ValueTask<>)))
            .ToArray();

        Assert.NotEmpty(asyncMethods);
        Assert.All(asyncMethods, m =>
        {
            Assert.EndsWith("Async", m.Name, StringComparison.Ordinal);
            ParameterInfo? last = m.GetParameters().LastOrDefault();
            Assert.True(last?.ParameterType == typeof(CancellationToken), $"{m.DeclaringType!.Name}.{m.Name} must take a CancellationToken last");
        });
    }

    [Theory]
    [MemberData(nameof(Packages))]
    public void DependencyInjectionExtensions_LiveInTheDependencyInjectionNamespace(string package)
    {
        Type[] extensions = PublicTypesOf(package).Where(t => t.Name.EndsWith("Extensions", StringComparison.Ordinal)).ToArray();
        Type[] registering = extensions.Where(t => t.GetMethods().Any(m => m.GetParameters().FirstOrDefault()?.ParameterType is Type first
            && (first == typeof(Microsoft.Extensions.DependencyInjection.IServiceCollection) || first == typeof(Microsoft.Extensions.DependencyInjection.IHttpClientBuilder)))).ToArray();

        // Registration (on IServiceCollection or IHttpClientBuilder) is found where DI users look; the request tag lives with the library's types.
        Assert.Equal(package switch { "M3ter.Auth" => 3, "M3ter.Auth.StackExchangeRedis" => 1, _ => 0 }, registering.Length);
        Assert.All(registering, t => Assert.Equal("Microsoft.Extensions.DependencyInjection", t.Namespace));
        Assert.All(extensions.Except(registering), t => Assert.Equal(package, t.Namespace));
    }
}

/// <summary>No thread-pool blocking on async paths, in any of the three packages: blocking waits are allowed only in the documented synchronous Send.</summary>
public sealed class BlockingCallTests
{
    [Theory]
    [MemberData(nameof(ConventionTests.Packages), MemberType = typeof(ConventionTests))]
    public void BlockingWaits_AppearOnlyInTheSynchronousSendPath(string package)
    {
        string src = System.IO.Path.Combine(RepositoryRoot.Path, "src", package);
        Assert.True(System.IO.Directory.Exists(src), src);
        string[] blocking = { ".GetAwaiter().GetResult()", ".Wait(", ".WaitAll(" };
        var offenders = new System.Collections.Generic.List<string>();
        foreach (string file in System.IO.Directory.EnumerateFiles(src, "*.cs", System.IO.SearchOption.AllDirectories).Where(f => !f.Contains("/obj/", StringComparison.Ordinal)))
        {
            string[] lines = System.IO.File.ReadAllLines(file);
            bool inSendRegion = false;
            for (int i = 0; i < lines.Length; i++)
            {
                if (lines[i].Contains("protected override HttpResponseMessage Send(", StringComparison.Ordinal))
                {
                    inSendRegion = true;
                }
                else if (inSendRegion && lines[i].TrimStart().StartsWith("#endif", StringComparison.Ordinal))
                {
                    inSendRegion = false;
                }

                if (!inSendRegion && blocking.Any(b => lines[i].Contains(b, StringComparison.Ordinal)))
                {
                    offenders.Add($"{System.IO.Path.GetFileName(file)}:{i + 1}: {lines[i].Trim()}");
                }
            }
        }

        Assert.Empty(offenders);
    }
}
