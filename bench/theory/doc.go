// Package theory checks the sign-error and majority-vote bounds of the
// SIGNSGD fault-tolerance report (Akoun & Meyer, sections 2-3)
// by Monte Carlo simulation, backed by exact values.
//
// Two experiments are run:
//
//   - Sign error of one worker (Lemma 1, Lemma 1bis). For a coordinate with
//     true gradient g > 0 and zero-mean noise of standard deviation sigma,
//     the probability that sign(g + noise) differs from sign(g) is measured
//     over a grid of signal-to-noise ratios S = g/sigma for four noise
//     families (Gaussian; Student-t with 3 degrees of freedom; a symmetric
//     bimodal Gaussian mixture; an asymmetric two-point distribution that is
//     the extreme case of Cantelli's inequality). The estimates are compared
//     with Lemma 1 (2/(9 S^2) or 1/2 - S/(2 sqrt 3), unimodal symmetric noise
//     only), Lemma 1bis (1/(2 S^2), claimed for any noise of bounded
//     variance) and Cantelli's one-sided bound 1/(1+S^2), which holds for
//     every distribution.
//
//   - Majority vote with omniscient Byzantine workers (the proof of
//     Theorem 2bis). Of M workers, f = floor(alpha M) always vote against
//     the true sign and the others vote sign(g + Gaussian noise). The
//     failure probability P(correct votes <= M/2) is measured, computed
//     exactly from the binomial law, and compared with each line of the
//     proof's chain of inequalities.
//
// Alongside, exactly (drift.go): the vote's drift, E[sign(vote)] times the
// true sign, when each honest worker is right with probability p and the
// Byzantines follow the paper's rule (job.ByzantineVotes), oppose, or know
// the truth; and the crossover p* above which the vote descends on average
// (0.8633 for the paper's rule at 4 of 9 workers).
//
// What the check found (its numbers are in bench/results/theory/report.md):
// Lemma 1 and the vote bounds hold wherever they apply. Lemma 1bis does not
// hold as stated: the asymmetric two-point law exceeds 1/(2 S^2). Chebyshev
// gives P(X <= -g) <= 1/(2 S^2) only when P(X <= -g) = P(X >= g), that is
// for symmetric noise; without symmetry the sharp bound is Cantelli's
// 1/(1+S^2). Theorem 2bis therefore needs symmetric noise too, or its last
// line should use 1 - p <= 1/(1+S^2), which changes the constant
// 1/(2 sqrt 2) to 1/2 with sqrt(1+S^2) in place of S.
//
// A bound is reported as violated at a point only when the lower end of the
// 99% Clopper-Pearson confidence interval of the Monte Carlo estimate lies above it,
// the bound is below 1 (a bound of 1 or more says nothing), and the bound
// is claimed for that point. Run writes CSV tables, PNG and SVG figures and a
// Markdown report; the `signsgd theory` subcommand is a thin wrapper.
package theory
