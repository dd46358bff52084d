(** Cutting-plane steps: a clause C follows from the database when, under the
    assignment its negation implies, a non-negative rational combination of
    rows (clauses, as [sum [l] >= 1]) and clique cuts ([sum [l] <= 1]) has no
    solution in the box [0,1]^n; checked in exact rationals (Q) and proved
    sound: [check_cuts_sound : check_cuts f c = true -> s5_valid f]. *)

From Coq Require Import String List ZArith PArith QArith Qminmax Bool Classical Lia Lqa.
From Coq Require Import FSets.FMapPositive.
From PXL Require Import Kernel Checker.
Import ListNotations.
Local Open Scope Z_scope.

(** A cut.  Every part that depends on the assignment implied by ¬C comes with
    hints: [fixed] literals l with C ∨ l RUP, [rows] (y, R) with C ∨ R RUP,
    [cliques] (y, K) with C ∨ ¬a ∨ ¬b RUP for every pair of K (hints per
    position, then per later position); [vars] lists every variable of the
    combination once. *)
Record cutc : Type := mk_cut {
  cut_clause : list Z;
  cut_fixed : list (Z * list positive);
  cut_rows : list (Q * list Z * list positive);
  cut_cliques : list (Q * list Z * list (list (list positive)));
  cut_vars : list positive
}.

Definition bq (b : bool) : Q := if b then 1%Q else 0%Q.

(** [l] = coef * x + const for x the variable's 0/1 value. *)
Definition lcoef (l : Z) : Q := if 0 <? l then 1%Q else (-1)%Q.
Definition lconst (l : Z) : Q := if 0 <? l then 0%Q else 1%Q.
Definition lval (b : positive -> bool) (l : Z) : Q := (lcoef l * bq (b (lvar l)) + lconst l)%Q.

Definition terms_of (s : Q) (y : Q) (lits : list Z) : list (positive * Q) :=
  map (fun l => (lvar l, (s * y * lcoef l)%Q)) lits.
Definition const_of (s : Q) (y : Q) (lits : list Z) : Q :=
  fold_right Qplus 0%Q (map (fun l => (s * y * lconst l)%Q) lits).

Definition eval_terms (b : positive -> bool) (t : list (positive * Q)) : Q :=
  fold_right Qplus 0%Q (map (fun '(x, q) => (q * bq (b x))%Q) t).

Definition coef_of (t : list (positive * Q)) (x : positive) : Q :=
  fold_right Qplus 0%Q (map (fun '(x', q) => if Pos.eqb x' x then q else 0%Q) t).

Definition fixed_val (fixed : list (Z * list positive)) (x : positive) : option bool :=
  match find (fun '(l, _) => Pos.eqb (lvar l) x) fixed with
  | Some (l, _) => Some (0 <? l)
  | None => None
  end.

Definition bound (fixed : list (Z * list positive)) (x : positive) (c : Q) : Q :=
  match fixed_val fixed x with
  | Some true => c
  | Some false => 0%Q
  | None => Qmax c 0%Q
  end.

Fixpoint nodup_pos (xs : list positive) : bool :=
  match xs with
  | [] => true
  | x :: r => negb (existsb (Pos.eqb x) r) && nodup_pos r
  end.

Fixpoint forall2b {A B} (p : A -> B -> bool) (la : list A) (lb : list B) : bool :=
  match la, lb with
  | [], [] => true
  | a :: ra, b :: rb => p a b && forall2b p ra rb
  | _, _ => false
  end.

Fixpoint pairs_ok (db : clause_db) (C : list Z) (lits : list Z)
    (hs : list (list (list positive))) : bool :=
  match lits, hs with
  | [], _ => true
  | l :: r, h :: hr => forall2b (fun l' hl => rup db (C ++ [- l; - l']) hl) r h
                       && pairs_ok db C r hr
  | _, _ => false
  end.

Definition cut_terms (c : cutc) : list (positive * Q) :=
  flat_map (fun '(y, lits, _) => terms_of 1%Q y lits) (cut_rows c)
  ++ flat_map (fun '(y, lits, _) => terms_of (-1)%Q y lits) (cut_cliques c).
Definition cut_const (c : cutc) : Q :=
  (fold_right Qplus 0 (map (fun '(y, lits, _) => const_of 1 y lits) (cut_rows c))
  + fold_right Qplus 0 (map (fun '(y, lits, _) => const_of (-1) y lits) (cut_cliques c)))%Q.
Definition cut_rhs (c : cutc) : Q :=
  (fold_right Qplus 0 (map (fun '(y, _, _) => y) (cut_rows c))
  - fold_right Qplus 0 (map (fun '(y, _, _) => y) (cut_cliques c)))%Q.
Definition cut_max (c : cutc) : Q :=
  fold_right Qplus 0%Q
    (map (fun x => bound (cut_fixed c) x (coef_of (cut_terms c) x)) (cut_vars c)).

Definition cut_ok (db : clause_db) (c : cutc) : bool :=
  let C := cut_clause c in
  forallb (fun '(l, h) => nonzero l && rup db (C ++ [l]) h) (cut_fixed c)
  && forallb (fun '(y, lits, h) => Qle_bool 0%Q y && forallb nonzero lits && rup db (C ++ lits) h)
       (cut_rows c)
  && forallb (fun '(y, lits, hs) => Qle_bool 0%Q y && forallb nonzero lits && pairs_ok db C lits hs)
       (cut_cliques c)
  && nodup_pos (cut_vars c)
  && forallb (fun '(x, _) => existsb (Pos.eqb x) (cut_vars c)) (cut_terms c)
  && negb (Qle_bool (cut_rhs c) (cut_max c + cut_const c)%Q).

(** * Soundness *)

Section Sums.
  Local Open Scope Q_scope.

  Definition sumq {A} (f : A -> Q) (l : list A) : Q := fold_right Qplus 0 (map f l).

  Lemma sumq_app {A} (f : A -> Q) l1 l2 : sumq f (l1 ++ l2) == sumq f l1 + sumq f l2.
  Proof. unfold sumq. rewrite map_app, fold_right_app. induction l1; cbn [map fold_right]; [ring|].
    rewrite IHl1. ring. Qed.

  Lemma sumq_ext {A} (f g : A -> Q) l : (forall a, In a l -> f a == g a) -> sumq f l == sumq g l.
  Proof. induction l as [|a l IH]; intro H; unfold sumq in *; cbn [map fold_right]; [reflexivity|].
    rewrite (H a (or_introl eq_refl)), IH; [reflexivity|]. intros; apply H; right; auto. Qed.

  Lemma sumq_le {A} (f g : A -> Q) l : (forall a, In a l -> f a <= g a) -> sumq f l <= sumq g l.
  Proof. induction l as [|a l IH]; intro H; unfold sumq in *; cbn [map fold_right]; [lra|].
    pose proof (H a (or_introl eq_refl)). pose proof (IH (fun x Hx => H x (or_intror Hx))). lra.
  Qed.

  Lemma sumq_plus {A} (f g : A -> Q) l : sumq (fun a => f a + g a) l == sumq f l + sumq g l.
  Proof. induction l as [|a l IH]; unfold sumq in *; cbn [map fold_right]; [ring|]. rewrite IH. ring. Qed.

  Lemma sumq_flat {A B} (f : B -> Q) (g : A -> list B) l :
    sumq f (flat_map g l) == sumq (fun a => sumq f (g a)) l.
  Proof.
    induction l as [|a l IH]; [reflexivity|].
    change (flat_map g (a :: l)) with (g a ++ flat_map g l).
    rewrite sumq_app, IH. reflexivity.
  Qed.

  Lemma bq01 b : 0 <= bq b <= 1.
  Proof. destruct b; unfold bq; split; discriminate. Qed.

  Definition ltrue (b : positive -> bool) (l : Z) : bool :=
    if (0 <? l)%Z then b (lvar l) else negb (b (lvar l)).

  Lemma lval_spec b l : (ltrue b l = true -> lval b l == 1) /\ (ltrue b l = false -> lval b l == 0).
  Proof.
    unfold ltrue, lval, lcoef, lconst. destruct (0 <? l)%Z; destruct (b (lvar l)); cbn [map fold_right];
      split; intro H; try discriminate; unfold bq; ring.
  Qed.

  Lemma lval01 b l : 0 <= lval b l <= 1.
  Proof. destruct (ltrue b l) eqn:H; [rewrite (proj1 (lval_spec b l) H) | rewrite (proj2 (lval_spec b l) H)];
    split; discriminate. Qed.

  Lemma terms_const b s y lits :
    sumq (fun '(x, q) => q * bq (b x)) (terms_of s y lits) + const_of s y lits
    == s * y * sumq (lval b) lits.
  Proof.
    induction lits as [|l r IH]; unfold terms_of, const_of, sumq in *; cbn [map fold_right]; [ring|].
    unfold terms_of, const_of in IH. rewrite Qmult_plus_distr_r, <- IH. unfold lval. ring.
  Qed.

  Lemma row_sum b lits : Exists (fun l => ltrue b l = true) lits -> 1 <= sumq (lval b) lits.
  Proof.
    induction 1 as [l r H | l r _ IH]; unfold sumq in *; cbn [map fold_right].
    - rewrite (proj1 (lval_spec b l) H). pose proof (sumq_le (fun _ => 0) (lval b) r
        (fun a _ => proj1 (lval01 b a))). unfold sumq in H0. cbn [map fold_right] in H0.
      assert (fold_right Qplus 0 (map (fun _ : Z => 0) r) == 0) by (clear; induction r; cbn [map fold_right]; [reflexivity | rewrite IHr; ring]).
      lra.
    - pose proof (lval01 b l). lra.
  Qed.

  Inductive pairwise {A} (P : A -> A -> Prop) : list A -> Prop :=
  | pw_nil : pairwise P []
  | pw_cons a r : Forall (P a) r -> pairwise P r -> pairwise P (a :: r).

  Lemma clique_sum b lits :
    pairwise (fun a c => ~ (ltrue b a = true /\ ltrue b c = true)) lits -> sumq (lval b) lits <= 1.
  Proof.
    induction 1 as [|a r Hf Hp IH]; unfold sumq in *; cbn [map fold_right]; [lra|].
    destruct (ltrue b a) eqn:Ha.
    - rewrite (proj1 (lval_spec b a) Ha).
      assert (fold_right Qplus 0 (map (lval b) r) == 0).
      { clear Hp IH. induction Hf as [|c r Hc Hr IHr]; cbn [map fold_right]; [reflexivity|].
        destruct (ltrue b c) eqn:Hcb; [exfalso; apply Hc; auto|].
        rewrite (proj2 (lval_spec b c) Hcb), IHr. ring. }
      lra.
    - rewrite (proj2 (lval_spec b a) Ha). lra.
  Qed.
End Sums.

Section CutSound.
  Local Open Scope Q_scope.
  Variables (v : positive -> Prop) (db : clause_db).
  Hypothesis Hdb : db_sat v db.

  Lemma sat_app_false (C l : list Z) : sat v (C ++ l) -> ~ sat v C -> Exists (lit_true v) l.
  Proof.
    unfold sat. intros H Hn. apply Exists_app in H. destruct H as [H | H]; [contradiction | exact H].
  Qed.

  Lemma pair_sound (C : list Z) (a c : Z) h : rup db (C ++ [(- a)%Z; (- c)%Z]) h = true -> ~ sat v C ->
    a <> 0%Z -> c <> 0%Z -> ~ (lit_true v a /\ lit_true v c).
  Proof.
    intros Hr Hn Ha Hc [Hta Htc]. pose proof (sat_app_false _ _ (rup_sound _ _ _ _ Hdb Hr) Hn) as H.
    inversion H as [? ? H1 | ? ? H1]; subst.
    - apply lit_neg in H1; auto.
    - inversion H1 as [? ? H2 | ? ? H2]; subst; [apply lit_neg in H2; auto | inversion H2].
  Qed.

  Lemma row_pairs (C : list Z) (a : Z) : forall r h,
    forall2b (fun l' hl => rup db (C ++ [(- a)%Z; (- l')%Z]) hl) r h = true -> ~ sat v C ->
    a <> 0%Z -> Forall (fun l => l <> 0%Z) r ->
    Forall (fun c => ~ (lit_true v a /\ lit_true v c)) r.
  Proof.
    induction r as [|c r IH]; intros h H2 Hn Ha Hnz; [constructor|].
    destruct h as [|hc h]; [discriminate|]. simpl in H2. apply andb_true_iff in H2.
    destruct H2 as [Hc H2]. inversion Hnz; subst. constructor.
    - exact (pair_sound _ _ _ _ Hc Hn Ha H1).
    - exact (IH _ H2 Hn Ha H3).
  Qed.

  Lemma pairs_sound (C : list Z) : forall lits hs, pairs_ok db C lits hs = true -> ~ sat v C ->
    Forall (fun l => l <> 0%Z) lits ->
    pairwise (fun a c => ~ (lit_true v a /\ lit_true v c)) lits.
  Proof.
    induction lits as [|a r IH]; intros hs Hp Hn Hnz; [constructor|].
    destruct hs as [|h hr]; [discriminate|]. simpl in Hp. apply andb_true_iff in Hp.
    destruct Hp as [H2 Hp]. inversion Hnz; subst. constructor.
    - exact (row_pairs _ _ _ _ H2 Hn H1 H3).
    - exact (IH _ Hp Hn H3).
  Qed.

  Lemma exists_b : forall xs : list positive, exists b : positive -> bool,
    forall x, In x xs -> (b x = true <-> v x).
  Proof.
    induction xs as [|x r [b Hb]]; [exists (fun _ => true); intros x []|].
    destruct (classic (v x)) as [Hx | Hx];
      [exists (fun y => if Pos.eqb y x then true else b y)
      | exists (fun y => if Pos.eqb y x then false else b y)];
      intros y [<- | Hy]; rewrite ?Pos.eqb_refl; try (split; intro; [exact Hx | reflexivity]);
      try (split; intro H; [discriminate | contradiction]);
      destruct (Pos.eqb_spec y x) as [-> | Hne]; try (apply Hb; exact Hy);
      first [split; intro; [exact Hx | reflexivity] | split; intro H; [discriminate | contradiction]].
  Qed.

  Lemma ltrue_agree b (l : Z) : (b (lvar l) = true <-> v (lvar l)) -> l <> 0%Z ->
    (ltrue b l = true <-> lit_true v l).
  Proof.
    intros H Hnz. unfold ltrue. destruct l as [|x|x]; [congruence| |]; simpl in *; [exact H|].
    rewrite negb_true_iff. split; intro H1; [intro Hv; apply H in Hv; congruence|].
    destruct (b x) eqn:E; [|reflexivity]. exfalso. apply H1. apply H. reflexivity.
  Qed.

  Lemma nodup_pos_In x xs : nodup_pos (x :: xs) = true -> ~ In x xs.
  Proof.
    simpl. intros H Hin. apply andb_true_iff in H. destruct H as [H _].
    apply negb_true_iff in H. assert (existsb (Pos.eqb x) xs = true) by
      (apply existsb_exists; exists x; split; [exact Hin | apply Pos.eqb_refl]). congruence.
  Qed.

  Lemma sumq_zero {A} (f : A -> Q) l : (forall a, In a l -> f a == 0) -> sumq f l == 0.
  Proof.
    intro H. rewrite (sumq_ext f (fun _ => 0)); [|exact H]. clear H.
    induction l; unfold sumq in *; cbn [map fold_right]; [reflexivity|]. rewrite IHl. ring.
  Qed.

  Lemma single b q x0 : forall xs, nodup_pos xs = true -> In x0 xs ->
    sumq (fun x => (if Pos.eqb x0 x then q else 0) * bq (b x)) xs == q * bq (b x0).
  Proof.
    induction xs as [|x r IH]; intros Hnd Hin; [destruct Hin|].
    unfold sumq. cbn [map fold_right]. fold (sumq (fun x => (if Pos.eqb x0 x then q else 0) * bq (b x)) r).
    pose proof (nodup_pos_In _ _ Hnd) as Hx. simpl in Hnd. apply andb_true_iff in Hnd.
    destruct Hnd as [_ Hnd]. destruct (Pos.eqb_spec x0 x) as [-> | Hne].
    - rewrite sumq_zero; [ring|]. intros y Hy. destruct (Pos.eqb_spec x y); [subst; contradiction|]. ring.
    - destruct Hin as [-> | Hin]; [congruence|]. rewrite IH by assumption. ring.
  Qed.

  Lemma group b xs : nodup_pos xs = true -> forall T, (forall x q, In (x, q) T -> In x xs) ->
    sumq (fun '(x, q) => q * bq (b x)) T == sumq (fun x => coef_of T x * bq (b x)) xs.
  Proof.
    intros Hnd. induction T as [|[x0 q] T IH]; intro Hin.
    - symmetry. apply sumq_zero. intros. unfold coef_of. cbn [map fold_right]. ring.
    - unfold sumq at 1. cbn [map fold_right]. fold (sumq (fun '(x, q) => q * bq (b x)) T).
      rewrite IH by (intros; eapply Hin; right; eauto).
      transitivity (sumq (fun x => ((if Pos.eqb x0 x then q else 0) * bq (b x))
                                   + coef_of T x * bq (b x)) xs).
      + rewrite sumq_plus, single; [reflexivity | exact Hnd | eapply Hin; left; reflexivity].
      + apply sumq_ext. intros x _. unfold coef_of. cbn [map fold_right]. ring.
  Qed.

  Lemma bound_le fixed b x c : (forall bv, fixed_val fixed x = Some bv -> b x = bv) ->
    c * bq (b x) <= bound fixed x c.
  Proof.
    intro H. unfold bound. destruct (fixed_val fixed x) as [[|]|].
    - rewrite (H true eq_refl). unfold bq. lra.
    - rewrite (H false eq_refl). unfold bq. lra.
    - pose proof (Q.le_max_l c 0). pose proof (Q.le_max_r c 0).
      destruct (b x); unfold bq; lra.
  Qed.

  Lemma pairwise_map (P R : Z -> Z -> Prop) lits :
    (forall a c, In a lits -> In c lits -> P a c -> R a c) -> pairwise P lits -> pairwise R lits.
  Proof.
    intros H Hp. induction Hp as [|a r Hf Hr IH]; constructor.
    - rewrite Forall_forall in *. intros c Hc. apply H; [left; reflexivity | right; exact Hc |].
      apply Hf. exact Hc.
    - apply IH. intros a0 c Ha Hc. apply H; right; assumption.
  Qed.

  Theorem cut_sound c : cut_ok db c = true -> sat v (cut_clause c).
  Proof.
    intro Hok. apply NNPP. intro Hn. unfold cut_ok in Hok.
    apply andb_true_iff in Hok; destruct Hok as [Hok Hlt].
    apply andb_true_iff in Hok; destruct Hok as [Hok Hvars].
    apply andb_true_iff in Hok; destruct Hok as [Hok Hnd].
    apply andb_true_iff in Hok; destruct Hok as [Hok Hcliques].
    apply andb_true_iff in Hok; destruct Hok as [Hfixed Hrows].
    rewrite forallb_forall in Hvars, Hcliques, Hfixed, Hrows.
    destruct (exists_b (cut_vars c)) as [b Hb].
    assert (Hterm : forall x q, In (x, q) (cut_terms c) -> In x (cut_vars c)).
    { intros x q Hin. pose proof (Hvars _ Hin) as H. cbn beta iota in H.
      apply existsb_exists in H. destruct H as [x' [Hx' Heq]]. apply Pos.eqb_eq in Heq.
      subst. exact Hx'. }
    assert (Hlv : forall s y lits l, In l lits ->
              (forall x q, In (x, q) (terms_of s y lits) -> In x (cut_vars c)) ->
              In (lvar l) (cut_vars c)).
    { intros s0 y lits l Hl H. apply (H _ (s0 * y * lcoef l)). unfold terms_of.
      apply in_map_iff. exists l. split; [reflexivity | exact Hl]. }
    set (f := fun '(x, q) => q * bq (b x)).
    (* the rows and cliques hold at b: the combination does *)
    assert (Hrow : sumq (fun e => sumq f (let '(y, lits, _) := e in terms_of 1 y lits)
                                  + (let '(y, lits, _) := e in const_of 1 y lits)) (cut_rows c)
                   >= sumq (fun e => let '(y, _, _) := e in y) (cut_rows c)).
    { apply sumq_le. intros [[y lits] h] Hin. cbn beta iota.
      pose proof (Hrows _ Hin) as H. cbn beta iota in H.
      apply andb_true_iff in H. destruct H as [H Hr]. apply andb_true_iff in H.
      destruct H as [Hy Hnz]. apply Qle_bool_iff in Hy. rewrite forallb_forall in Hnz.
      pose proof (terms_const b 1 y lits) as Htc. unfold f.
      assert (Hex : Exists (fun l => ltrue b l = true) lits).
      { pose proof (sat_app_false _ _ (rup_sound _ _ _ _ Hdb Hr) Hn) as He.
        apply Exists_exists in He. destruct He as [l [Hl Ht]]. apply Exists_exists.
        exists l. split; [exact Hl|].
        assert (Hl0 : l <> 0%Z) by (pose proof (Hnz l Hl) as Hz; unfold nonzero in Hz;
          apply negb_true_iff, Z.eqb_neq in Hz; exact Hz).
        apply (ltrue_agree b l); [|exact Hl0|exact Ht]. apply Hb.
        apply (Hlv 1 y lits l Hl). intros x q Hq. apply (Hterm x q). unfold cut_terms.
        apply in_or_app. left. apply in_flat_map. exists (y, lits, h). split; [exact Hin | exact Hq]. }
      pose proof (row_sum b lits Hex). nra. }
    assert (Hclq : sumq (fun e => sumq f (let '(y, lits, _) := e in terms_of (-1) y lits)
                                  + (let '(y, lits, _) := e in const_of (-1) y lits)) (cut_cliques c)
                   >= - sumq (fun e => let '(y, _, _) := e in y) (cut_cliques c)).
    { assert (Hneg : forall l : list (Q * list Z * list (list (list positive))),
                - sumq (fun e => let '(y, _, _) := e in y) l
                == sumq (fun e => - (let '(y, _, _) := e in y)) l).
      { induction l as [|e l IH]; unfold sumq in *; cbn [map fold_right]; [reflexivity|].
        rewrite <- IH. ring. }
      rewrite Hneg. apply sumq_le. intros [[y lits] hs] Hin. cbn beta iota.
      pose proof (Hcliques _ Hin) as H. cbn beta iota in H.
      apply andb_true_iff in H. destruct H as [H Hp]. apply andb_true_iff in H.
      destruct H as [Hy Hnz]. apply Qle_bool_iff in Hy. rewrite forallb_forall in Hnz.
      pose proof (terms_const b (-1) y lits) as Htc. unfold f.
      assert (Hnz' : Forall (fun l => l <> 0%Z) lits).
      { apply Forall_forall. intros l Hl. pose proof (Hnz l Hl) as Hz. unfold nonzero in Hz.
        apply negb_true_iff, Z.eqb_neq in Hz. exact Hz. }
      pose proof (pairs_sound _ _ _ Hp Hn Hnz') as Hpw.
      assert (Hpb : pairwise (fun a c0 => ~ (ltrue b a = true /\ ltrue b c0 = true)) lits).
      { assert (Hin_l : forall l, In l lits -> In (lvar l) (cut_vars c)).
        { intros l Hl. apply (Hlv (-1) y lits l Hl). intros x q Hq. apply (Hterm x q).
          unfold cut_terms. apply in_or_app. right. apply in_flat_map.
          exists (y, lits, hs). split; [exact Hin | exact Hq]. }
        apply (pairwise_map (fun a c0 => ~ (lit_true v a /\ lit_true v c0)) _ lits); [|exact Hpw].
        intros a c0 Ha Hc0 Hno [Hta Htc0].
        apply Hno. assert (Hz : forall l, In l lits -> l <> 0%Z)
          by (rewrite Forall_forall in Hnz'; exact Hnz').
        split; [apply (ltrue_agree b a) | apply (ltrue_agree b c0)]; auto. }
      pose proof (clique_sum b lits Hpb). nra. }
    assert (Hcomb : sumq f (cut_terms c) + cut_const c >= cut_rhs c).
    { unfold cut_terms, cut_const, cut_rhs. rewrite sumq_app, !sumq_flat.
      fold (sumq (fun '(y, lits, _) => const_of 1 y lits) (cut_rows c)).
      fold (sumq (fun '(y, lits, _) => const_of (-1) y lits) (cut_cliques c)).
      fold (sumq (fun '(y, _, _) => y) (cut_rows c)).
      fold (sumq (fun '(y, _, _) => y) (cut_cliques c)).
      rewrite sumq_plus in Hrow. rewrite sumq_plus in Hclq. lra. }
    (* and its left side is at most the box maximum *)
    assert (Hfix : forall x bv, In x (cut_vars c) -> fixed_val (cut_fixed c) x = Some bv -> b x = bv).
    { intros x bv Hx Hf. unfold fixed_val in Hf.
      destruct (find _ (cut_fixed c)) as [[l h]|] eqn:Hfind; [|discriminate].
      apply find_some in Hfind. destruct Hfind as [Hin Heq]. apply Pos.eqb_eq in Heq.
      inversion Hf; subst bv. pose proof (Hfixed _ Hin) as H. cbn beta iota in H.
      apply andb_true_iff in H. destruct H as [Hz Hr].
      unfold nonzero in Hz. apply negb_true_iff, Z.eqb_neq in Hz.
      pose proof (sat_app_false _ _ (rup_sound _ _ _ _ Hdb Hr) Hn) as He.
      inversion He as [? ? Ht | ? ? Ht]; subst; [|inversion Ht].
      apply (ltrue_agree b l) in Ht; [| apply Hb; exact Hx | exact Hz].
      unfold ltrue in Ht. destruct (0 <? l)%Z; [exact Ht|].
      apply negb_true_iff in Ht. exact Ht. }
    assert (Hmax : sumq f (cut_terms c) <= cut_max c).
    { unfold f. rewrite (group b _ Hnd _ Hterm). unfold cut_max. apply sumq_le. intros x Hx.
      apply bound_le. intros bv. apply Hfix. exact Hx. }
    apply negb_true_iff in Hlt. assert (~ cut_rhs c <= cut_max c + cut_const c).
    { intro H. apply Qle_bool_iff in H. congruence. }
    lra.
  Qed.
End CutSound.

(** * Certificates with cutting-plane steps *)

Inductive cstep : Type :=
| CStep (s : step)                 (** an [SAdd] or [SNec] step, as in Checker *)
| CCut (id : positive) (c : cutc). (** a cut: its clause is added under [id] *)

Record ccert : Type := mk_ccert {
  cc_table : table;
  cc_root : Z;
  cc_steps : list cstep;
  cc_final : list positive
}.

Fixpoint run_cuts (tm : tmap) (db : clause_db) (steps : list cstep) : option clause_db :=
  match steps with
  | [] => Some db
  | CStep s :: r => match run tm db [s] with Some db' => run_cuts tm db' r | None => None end
  | CCut id c :: r => if cut_ok db c then run_cuts tm (PM.add id (cut_clause c) db) r else None
  end.

Definition check_cuts (f : form) (c : ccert) : bool :=
  match build (cc_table c) (PM.empty _) with
  | None => false
  | Some tm =>
      wf_table tm (cc_table c) && matches tm (cc_root c) f &&
      match run_cuts tm (load (enc_clauses (cc_table c))) (cc_steps c) with
      | Some db => rup db [cc_root c] (cc_final c)
      | None => false
      end
  end.

Lemma run_cuts_sound W val t tm (Hb : build t (PM.empty _) = Some tm) (Hwf : wf_table tm t = true) :
  forall steps db db', inv W val tm db -> run_cuts tm db steps = Some db' -> inv W val tm db'.
Proof.
  induction steps as [|s r IH]; intros db db' Hdb Hr; cbn [run_cuts] in Hr.
  - inversion Hr; subst; exact Hdb.
  - destruct s as [s | id c].
    + destruct (run tm db [s]) as [db1|] eqn:H1; [|discriminate].
      exact (IH _ _ (run_sound W val t tm Hb Hwf [s] db db1 Hdb H1) Hr).
    + destruct (cut_ok db c) eqn:Hc; [|discriminate]. refine (IH _ _ _ Hr).
      intros w id' c' H. destruct (Pos.eq_dec id' id) as [-> | Hne].
      * rewrite PM.gss in H. inversion H; subst. exact (cut_sound _ _ (Hdb w) c Hc).
      * rewrite PM.gso in H by exact Hne. exact (Hdb w _ _ H).
Qed.

Theorem check_cuts_universal : forall f c, check_cuts f c = true -> universal_valid f.
Proof.
  intros f c Hc W val w. unfold check_cuts in Hc.
  destruct (build (cc_table c) (PM.empty _)) as [tm|] eqn:Hb; [|discriminate].
  apply andb_true_iff in Hc. destruct Hc as [Hc Hrun]. apply andb_true_iff in Hc.
  destruct Hc as [Hwf Hm].
  destruct (run_cuts tm _ (cc_steps c)) as [db|] eqn:Hr; [|discriminate].
  assert (Hinv0 : inv W val tm (load (enc_clauses (cc_table c)))).
  { intros w' id c' Hf. unfold load in Hf. destruct (load_in _ _ _ _ _ Hf) as [Hin | He].
    - exact (enc_sound W val _ _ Hb Hwf c' Hin w').
    - rewrite PM.gempty in He. discriminate. }
  pose proof (run_cuts_sound W val _ _ Hb Hwf _ _ _ Hinv0 Hr) as Hinv.
  pose proof (rup_sound _ _ _ _ (Hinv w) Hrun) as Hs.
  unfold sat in Hs. inversion Hs as [? ? Hroot | ? ? Hnil]; subst; [|inversion Hnil].
  exact (proj1 (matches_sound W val tm (twf _ _ Hb Hwf) (tnone _ _ Hb Hwf) f _ Hm w) Hroot).
Qed.

(** The checker with cutting-plane steps is sound for S5. *)
Theorem check_cuts_sound : forall f c, check_cuts f c = true -> s5_valid f.
Proof.
  intros f c H. apply universal_valid_s5_valid. exact (check_cuts_universal f c H).
Qed.
